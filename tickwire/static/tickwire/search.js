/**
 * The dashboard's "add a symbol" box: a combobox that answers at once from the assets the
 * page knows, then from the server's search (/api/assets/?search=), with keyboard use
 * (arrows, Enter, Escape).
 */

import { el } from "./dom.js";
import * as fmt from "./format.js";

const LIMIT = 8;

export class SymbolSearch {
  /**
   * @param {object} o
   * @param {HTMLFormElement} o.form
   * @param {HTMLInputElement} o.input
   * @param {HTMLUListElement} o.list
   * @param {string} o.assetsApi  the assets list URL
   * @param {(q: string) => object[]} o.localMatches  assets the page knows that match
   * @param {(raw: object) => object} o.fromApi  an API asset in the page's quote shape
   * @param {(symbol: string) => boolean} o.isAdded
   * @param {(symbol: string, asset: object|null) => Promise<boolean>} o.add
   */
  constructor(o) {
    Object.assign(this, o);
    this.results = [];
    this.active = -1;
    this.seq = 0;
    this.timer = null;
    this.input.addEventListener("input", () => this._onInput());
    this.input.addEventListener("keydown", (event) => this._onKey(event));
    this.input.addEventListener("blur", () => setTimeout(() => this.close(), 100));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._onSubmit();
    });
  }

  close() {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    this.active = -1;
  }

  render() {
    this.list.replaceChildren();
    if (!this.results.length) {
      this.list.append(el("li", { class: "search-empty" }, "No matching asset"));
    }
    this.results.forEach((asset, i) => {
      this.list.append(
        el(
          "li",
          {
            id: `search-option-${i}`,
            role: "option",
            class: i === this.active ? "active" : "",
            "aria-selected": String(i === this.active),
            dataset: { symbol: asset.symbol },
            onmousedown: (event) => {
              event.preventDefault(); // keep focus in the input
              this.pick(i);
            },
          },
          el("span", { class: "sym" }, asset.symbol),
          el("span", { class: "asset-name" }, asset.name || ""),
          el("span", { class: `kind kind-${asset.kind}` }, asset.kind || ""),
          el("span", { class: "num" }, this.isAdded(asset.symbol) ? "added" : fmt.price(asset.price, asset.kind)),
        ),
      );
    });
    if (this.active >= 0) this.input.setAttribute("aria-activedescendant", `search-option-${this.active}`);
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
  }

  async search(q) {
    const mine = ++this.seq;
    // Instant answer from what the page already knows, then the server's full answer.
    this.results = this.localMatches(q).slice(0, LIMIT);
    this.active = this.results.length ? 0 : -1;
    this.render();
    try {
      const response = await fetch(`${this.assetsApi}?search=${encodeURIComponent(q)}&limit=${LIMIT}`, {
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      if (mine !== this.seq) return; // a newer query is under way
      const found = (Array.isArray(body) ? body : body.results || []).map(this.fromApi);
      const seen = new Set(found.map((a) => a.symbol));
      this.results = found.concat(this.results.filter((a) => !seen.has(a.symbol))).slice(0, LIMIT);
      this.active = this.results.length ? 0 : -1;
      this.render();
    } catch {
      /* the local matches stay; the server's search is a bonus */
    }
  }

  async pick(i) {
    const asset = this.results[i];
    if (!asset) return;
    this.close();
    this.input.value = "";
    await this.add(asset.symbol, asset);
  }

  _onInput() {
    const q = this.input.value.trim();
    clearTimeout(this.timer);
    if (!q) {
      this.close();
      return;
    }
    this.timer = setTimeout(() => this.search(q), 120);
  }

  _onKey(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!this.results.length) return;
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.results.length) % this.results.length;
      this.render();
    } else if (event.key === "Escape") {
      this.close();
    }
  }

  async _onSubmit() {
    const q = this.input.value.trim();
    if (!q) return;
    if (this.active >= 0 && !this.list.hidden) {
      await this.pick(this.active);
    } else if (await this.add(q, null)) {
      this.input.value = "";
      this.close();
    }
  }
}
