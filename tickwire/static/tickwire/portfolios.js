/**
 * The dashboard's portfolio cards: total value, daily change, a value chart and positions,
 * first from the values the view computed at the last persisted prices (and the chart from
 * /api/portfolios/<id>/history/), then from `portfolio_update`.
 */

import { el, flash, setDirection, setText } from "./dom.js";
import { PortfolioValueChart } from "./portfolio-chart.js";
import * as fmt from "./format.js";
import { bellIcon } from "./alerts.js";

/** A position of `portfolio_update` (or of the page's first paint), field names unified. */
function positionFields(p, kindOf) {
  const symbol =
    p.symbol ?? p.asset_symbol ?? (typeof p.asset === "string" ? p.asset : p.asset?.symbol) ?? "?";
  return {
    symbol,
    quantity: fmt.toNumber(p.quantity),
    price: p.price ?? p.current_price,
    value: p.market_value ?? p.value,
    change: p.daily_change ?? p.day_change,
    kind: p.kind ?? kindOf(symbol),
  };
}

export class PortfolioPanel {
  /**
   * @param {HTMLElement} container
   * @param {(symbol: string) => string|undefined} kindOf  an asset's kind, for price decimals
   * @param {((portfolio: object) => void)|null} onAlert  when given, each card has an
   *   "alert" button that calls it with the card's current values
   */
  constructor(container, kindOf, onAlert = null) {
    this.container = container;
    this.kindOf = kindOf;
    this.onAlert = onAlert;
    this.cards = new Map(); // portfolio id -> {card, fields, body, empty, data}
  }

  /** Add a card for a portfolio summary ({portfolio_id, name, currency, total_value, ...}). */
  add(summary) {
    const fields = {
      name: el("h3", {}, summary.name),
      total: el("span", { class: "pf-total", dataset: { field: "total_value" } }),
      change: el("span", { class: "pf-change", dataset: { field: "daily_change" } }),
      live: el("span", { class: "pf-live muted" }),
    };
    const plot = el("div", {
      class: "pf-chart",
      role: "img",
      dataset: { portfolioId: String(summary.portfolio_id) },
    });
    const note = el("p", { class: "pf-chart-note muted" }, "Loading value history\u2026");
    const body = el("tbody");
    const empty = el("p", { class: "muted pf-empty" }, "No positions yet.");
    const head = el(
      "tr",
      {},
      el("th", { scope: "col" }, "Symbol"),
      el("th", { scope: "col", class: "num" }, "Qty"),
      el("th", { scope: "col", class: "num" }, "Price"),
      el("th", { scope: "col", class: "num" }, "Value"),
      el("th", { scope: "col", class: "num" }, "Day"),
    );
    const card = el(
      "article",
      { class: "pf-card", dataset: { portfolioId: String(summary.portfolio_id), live: "waiting" } },
      el("header", { class: "pf-head" }, fields.name, fields.live, this._alertButton(summary)),
      el("div", { class: "pf-values" }, fields.total, fields.change),
      plot,
      note,
      el("table", { class: "quotes compact" }, el("thead", {}, head), body),
      empty,
    );
    const entry = { card, fields, body, empty, note, chart: null, data: { ...summary } };
    this.cards.set(Number(summary.portfolio_id), entry);
    this.container.append(card);
    // The chart sizes itself to its container, so it is made once the card is in the page.
    entry.chart = new PortfolioValueChart(plot, summary.currency || "USD");
    this._render(entry, {}, false);
    this.setLive(summary.portfolio_id, "waiting", "last saved values");
  }

  _alertButton(summary) {
    if (!this.onAlert) return null;
    const id = Number(summary.portfolio_id);
    return el(
      "button",
      {
        type: "button",
        class: "icon-button alert-button",
        title: "New alert on this portfolio",
        "aria-label": `New alert on portfolio ${summary.name}`,
        onclick: () => this.onAlert({ ...this.cards.get(id).data }),
      },
      bellIcon(),
    );
  }

  /** The portfolio's name, if it has a card. */
  name(id) {
    return this.cards.get(Number(id))?.data.name;
  }

  /** The portfolio's value chart, if it has a card. */
  chart(id) {
    return this.cards.get(Number(id))?.chart ?? null;
  }

  /**
   * Draw a history answer of /api/portfolios/<id>/history/ on the card's chart, or say
   * why there is none (`error`: a message).
   */
  setHistory(id, body, error = null) {
    const entry = this.cards.get(Number(id));
    if (!entry) return;
    if (error) {
      setText(entry.note, `Value history unavailable: ${error}`);
      return;
    }
    entry.chart.setHistory(body);
    const points = entry.chart.history;
    const missing = Array.isArray(body.missing) && body.missing.length
      ? `; no bars for ${body.missing.join(", ")}`
      : "";
    setText(
      entry.note,
      points
        ? `Today's holdings valued at ${points.toLocaleString("en-US")} past ${body.interval} closes, then live${missing}`
        : `No value history yet${missing}; live values are drawn as they arrive`,
    );
  }

  /**
   * Apply a `portfolio_update`; returns false for a portfolio without a card.
   * @param {number} [time]  the update's time (ms since the epoch), for the chart
   */
  update(data, time = Date.now()) {
    const entry = this.cards.get(Number(data.portfolio_id));
    if (!entry) return false;
    this._render(entry, data, true);
    if ("total_value" in data) entry.chart.addValue(data.total_value, time);
    this.setLive(data.portfolio_id, "live", `live \u00b7 ${fmt.clock(new Date())}`);
    return true;
  }

  /** Card state: "waiting", "live", "stale" (reconnecting) or "unavailable", with a note. */
  setLive(id, state, text) {
    const entry = this.cards.get(Number(id));
    if (!entry) return;
    entry.card.dataset.live = state;
    setText(entry.fields.live, text);
  }

  liveState(id) {
    return this.cards.get(Number(id))?.card.dataset.live;
  }

  /** Live cards go stale while the connection is down. */
  markStale(text) {
    for (const [id, entry] of this.cards) {
      if (entry.card.dataset.live === "live") this.setLive(id, "stale", text);
    }
  }

  _render(entry, update, isLive) {
    const previous = fmt.toNumber(entry.data.total_value);
    Object.assign(entry.data, update);
    const { data, fields } = entry;
    const total = fmt.toNumber(data.total_value);
    setText(fields.total, fmt.money(total, data.currency));
    if (isLive && previous !== null && total !== null && total !== previous) flash(fields.total, total > previous);
    setText(
      fields.change,
      `${fmt.signedMoney(data.daily_change, data.currency)} (${fmt.percent(data.daily_change_percent)})`,
    );
    setDirection(fields.change, data.daily_change);
    setText(fields.name, data.name || `Portfolio ${data.portfolio_id}`);
    if ("positions" in update || !isLive) this._renderPositions(entry);
  }

  _renderPositions(entry) {
    const { data, body } = entry;
    const positions = Array.isArray(data.positions) ? data.positions : [];
    body.replaceChildren(
      ...positions.map((raw) => {
        const p = positionFields(raw, this.kindOf);
        const quantity = p.quantity ?? 0;
        return el(
          "tr",
          { dataset: { symbol: p.symbol } },
          el("th", { scope: "row", class: "symbol" }, el("span", { class: "sym" }, p.symbol)),
          el("td", { class: "num" }, fmt.fixed(quantity, quantity % 1 ? 4 : 0)),
          el("td", { class: "num" }, fmt.price(p.price, p.kind)),
          el("td", { class: "num", dataset: { field: "market_value" } }, fmt.money(p.value, data.currency)),
          el("td", { class: `num ${fmt.direction(p.change)}` }, fmt.signedMoney(p.change, data.currency)),
        );
      }),
    );
    entry.empty.hidden = positions.length > 0;
  }
}
