/**
 * The dashboard's alerts: the form that creates a rule for a watchlist symbol or a
 * portfolio, the panel of the user's rules, and the toast of an `alert` message.
 *
 * Rules live on the server (docs/alerts.md): the form POSTs /api/alerts/ with the session
 * and the CSRF token the page embeds, the panel lists, toggles (PATCH `enabled`) and
 * deletes them. The server's evaluator fires them and sends each fire to every open
 * connection of the owner as `{"type": "alert", "data": {...}}`; the page shows it as a
 * toast and reloads the panel (its "last fired" changed). A 400 from the API is shown next
 * to the form's fields, keyed as DRF keys it; the condition's messages start with the
 * condition field they are about (`level: must be a number, not 'abc'`).
 */

import { el, setText } from "./dom.js";
import * as fmt from "./format.js";

/** How long an alert toast stays unless dismissed, in ms. */
export const ALERT_TOAST_MS = 12000;

/** Condition kinds the form offers, per target: [kind, label, the fields it needs]. */
const KINDS = {
  asset: [
    ["above", "Price above", ["level"]],
    ["below", "Price below", ["level"]],
    ["cross", "Price crosses", ["level"]],
    ["change_above", "Day change above (%)", ["percent"]],
    ["change_below", "Day change below (%)", ["percent"]],
    ["move", "Moves by (%) within", ["percent", "seconds"]],
  ],
  portfolio: [
    ["above", "Total value above", ["level"]],
    ["below", "Total value below", ["level"]],
    ["change_below", "Daily change below (%): drawdown", ["percent"]],
  ],
};
const DEFAULT_PERCENT = { change_above: "2", change_below: "-5", move: "3" };
const DEFAULT_SECONDS = "300";
// The form's slots for errors; any other key of a 400 goes to the form-wide slot.
const FIELD_SLOTS = ["kind", "level", "percent", "seconds", "name", "cooldown", "one_shot", "channels"];

/** The REST calls of the alerts UI: JSON, the session cookie and the CSRF token. */
export class AlertsApi {
  constructor(base, csrfToken) {
    this.base = base;
    this.csrfToken = csrfToken;
  }

  /** `{ok, status, body}`; `body` is the parsed JSON answer (null when there is none). */
  call(method, path = "", data = undefined) {
    return this.request(method, this.base + path, data);
  }

  async request(method, url, data = undefined) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = this.csrfToken || "";
    if (data !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: data === undefined ? undefined : JSON.stringify(data),
    });
    let body = null;
    if (response.status !== 204) {
      try {
        body = await response.json();
      } catch {
        body = null;
      }
    }
    return { ok: response.ok, status: response.status, body };
  }

  /** Every rule of the user: `{ok, status, body: [rule, ...]}`, following the pages. */
  async list() {
    const rules = [];
    let url = `${this.base}?limit=500`;
    while (url) {
      const answer = await this.request("GET", url);
      if (!answer.ok) return answer;
      const body = answer.body;
      if (Array.isArray(body)) return { ...answer, body }; // an unpaginated list
      rules.push(...(Array.isArray(body?.results) ? body.results : []));
      url = typeof body?.next === "string" ? body.next : null;
    }
    return { ok: true, status: 200, body: rules };
  }

  create(rule) {
    return this.call("POST", "", rule);
  }

  update(id, fields) {
    return this.call("PATCH", `${id}/`, fields);
  }

  remove(id) {
    return this.call("DELETE", `${id}/`);
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** A bell icon (inline SVG, drawn in the text colour; no emoji font needed). */
export function bellIcon() {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "bell");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute(
    "d",
    "M8 1.5a1 1 0 0 1 1 1v.6a4.5 4.5 0 0 1 3.5 4.4v3l1.2 1.7a.5.5 0 0 1-.4.8H2.7a.5.5 0 0 1-.4-.8L3.5 10.5v-3A4.5 4.5 0 0 1 7 3.1v-.6a1 1 0 0 1 1-1zM6.3 14h3.4a1.7 1.7 0 0 1-3.4 0z",
  );
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

/** A DRF error body as [field, message] pairs (nested objects flattened to "a.b"). */
export function errorPairs(body, prefix = "") {
  if (body === null || body === undefined) return [];
  if (typeof body === "string") return [[prefix || "detail", body]];
  if (Array.isArray(body)) return body.flatMap((item) => errorPairs(item, prefix));
  if (typeof body === "object") {
    return Object.entries(body).flatMap(([key, value]) =>
      errorPairs(value, prefix ? `${prefix}.${key}` : key),
    );
  }
  return [[prefix || "detail", String(body)]];
}

/** The form slot a `[field, message]` pair belongs next to. */
function slotFor(field, message) {
  let name = field;
  if (name === "condition" || name.startsWith("condition.")) {
    // "condition": ["level: must be a number, not 'abc'"] or a nested {"condition": {"level": ...}}.
    name = name.slice("condition.".length);
    if (!name) {
      const head = /^(?:condition\.)?([a-z_]+):/.exec(message);
      name = head ? head[1] : "kind";
    }
    if (!FIELD_SLOTS.includes(name)) name = "kind";
  }
  return FIELD_SLOTS.includes(name) ? name : "form";
}

/**
 * The "new alert" dialog. `open({asset})` or `open({portfolio})` prefills it; submitting
 * creates the rule and calls `onCreated(rule)`; an error answer is shown field by field.
 */
export class AlertForm {
  constructor(dialog, api, onCreated) {
    this.dialog = dialog;
    this.api = api;
    this.onCreated = onCreated;
    this.form = dialog.querySelector("form");
    this.fields = {
      kind: this.form.elements.kind,
      level: this.form.elements.level,
      percent: this.form.elements.percent,
      seconds: this.form.elements.seconds,
      name: this.form.elements.name,
      cooldown: this.form.elements.cooldown,
      one_shot: this.form.elements.one_shot,
    };
    this.target = null;
    this.fields.kind.addEventListener("change", () => this._showFields());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    dialog.querySelector("[data-action=cancel]").addEventListener("click", () => this.close());
  }

  /** Open for `{asset: "AAPL", price}` or `{portfolio: 12, name, price}` (price = now). */
  open(target) {
    this.target = target;
    const type = target.asset !== undefined ? "asset" : "portfolio";
    this.form.dataset.target = type;
    setText(
      this.dialog.querySelector("#alert-dialog-title"),
      type === "asset" ? `New alert: ${target.asset}` : `New alert: ${target.name || `portfolio ${target.portfolio}`}`,
    );
    const now = fmt.toNumber(target.price);
    setText(
      this.dialog.querySelector("#alert-dialog-now"),
      now === null ? "" : type === "asset" ? `now ${target.priceText || now}` : `now ${fmt.money(now, target.currency)}`,
    );
    this.fields.kind.replaceChildren(
      ...KINDS[type].map(([kind, label]) => el("option", { value: kind }, label)),
    );
    this.fields.kind.value = "above";
    // The current value rounded as the page shows it: a level to nudge up or down.
    this.fields.level.value = now === null ? "" : String(target.levelText ?? now);
    this.fields.percent.value = "";
    this.fields.seconds.value = DEFAULT_SECONDS;
    this.fields.name.value = "";
    this.fields.cooldown.value = "";
    this.fields.one_shot.checked = false;
    for (const box of this.form.querySelectorAll("input[name=channels]")) box.checked = box.value === "websocket";
    this.clearErrors();
    this._showFields();
    if (!this.dialog.open) this.dialog.showModal();
    this.fields.level.focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
    this.target = null;
  }

  _kindFields() {
    const type = this.form.dataset.target || "asset";
    return (KINDS[type].find(([kind]) => kind === this.fields.kind.value) || KINDS[type][0])[2];
  }

  _showFields() {
    const wanted = this._kindFields();
    for (const row of this.form.querySelectorAll("[data-condition-field]")) {
      row.hidden = !wanted.includes(row.dataset.conditionField);
    }
    const kind = this.fields.kind.value;
    if (wanted.includes("percent") && !this.fields.percent.value) {
      this.fields.percent.value = DEFAULT_PERCENT[kind] || "";
    }
  }

  /** The rule JSON the API takes, from the form. */
  rule() {
    const kind = this.fields.kind.value;
    const condition = { kind };
    for (const name of this._kindFields()) {
      const value = this.fields[name].value.trim();
      condition[name] = name === "seconds" && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    }
    const rule = {
      condition,
      one_shot: this.fields.one_shot.checked,
      channels: [...this.form.querySelectorAll("input[name=channels]:checked")].map((b) => b.value),
    };
    if (this.target.asset !== undefined) rule.asset = this.target.asset;
    else rule.portfolio = this.target.portfolio;
    const name = this.fields.name.value.trim();
    if (name) rule.name = name;
    const cooldown = this.fields.cooldown.value.trim();
    if (cooldown) rule.cooldown = /^\d+(\.\d+)?$/.test(cooldown) ? Number(cooldown) : cooldown;
    return rule;
  }

  clearErrors() {
    for (const slot of this.form.querySelectorAll("[data-error-for]")) {
      slot.replaceChildren();
      slot.hidden = true;
    }
    for (const input of this.form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  /** Show a 400's messages next to their fields; returns how many were shown. */
  showErrors(body) {
    this.clearErrors();
    const pairs = errorPairs(body);
    for (const [field, message] of pairs) {
      const slot = slotFor(field, message);
      const node = this.form.querySelector(`[data-error-for="${slot}"]`);
      node.append(el("span", { dataset: { field } }, message));
      node.hidden = false;
      const input = this.fields[slot];
      if (input && typeof input.setAttribute === "function") input.setAttribute("aria-invalid", "true");
    }
    return pairs.length;
  }

  async submit() {
    if (!this.target) return;
    const submit = this.form.querySelector("[type=submit]");
    submit.disabled = true;
    this.clearErrors();
    try {
      const { ok, status, body } = await this.api.create(this.rule());
      if (ok) {
        this.close();
        this.onCreated(body);
      } else if (!this.showErrors(body)) {
        this.showErrors({ detail: `The server refused the alert (HTTP ${status}).` });
      }
    } catch (err) {
      this.showErrors({ detail: `Could not reach the server: ${err.message}` });
    } finally {
      submit.disabled = false;
    }
  }
}

/** The rules panel: each rule's description, target, last fire, an on/off switch, delete. */
export class RulesPanel {
  constructor(list, { api, count, empty, status, portfolioName }) {
    this.list = list;
    this.api = api;
    this.count = count;
    this.empty = empty;
    this.status = status;
    this.portfolioName = portfolioName;
    this.rules = [];
    this._loading = null;
    this._again = false;
  }

  /** Reload the rules from the API (a reload asked for meanwhile runs after this one). */
  async refresh() {
    if (this._loading) {
      this._again = true;
      return this._loading;
    }
    this._loading = (async () => {
      do {
        this._again = false;
        try {
          const { ok, status, body } = await this.api.list();
          if (!ok) throw new Error(`HTTP ${status}`);
          this.rules = body;
          this.render();
          setText(this.status, "");
        } catch (err) {
          setText(this.status, `Could not load your alerts: ${err.message}`);
        }
      } while (this._again);
    })();
    try {
      await this._loading;
    } finally {
      this._loading = null;
    }
  }

  targetText(rule) {
    if (rule.asset) return rule.asset;
    const id = rule.portfolio ?? rule.target?.portfolio;
    return this.portfolioName(id) || `portfolio ${id}`;
  }

  render() {
    this.list.replaceChildren(...this.rules.map((rule) => this._item(rule)));
    setText(this.count, `${this.rules.length} rule${this.rules.length === 1 ? "" : "s"}`);
    this.empty.hidden = this.rules.length > 0;
  }

  _item(rule) {
    const description = rule.description || rule.name || `rule ${rule.id}`;
    const fired = rule.last_fired_at
      ? el("time", { class: "rule-fired", datetime: rule.last_fired_at }, `last fired ${fmt.clock(rule.last_fired_at)}`)
      : el("span", { class: "rule-fired muted" }, "not fired yet");
    const toggle = el("input", {
      type: "checkbox",
      role: "switch",
      class: "rule-enabled",
      "aria-label": `Enabled: ${description}`,
      title: rule.enabled ? "On: click to pause" : "Paused: click to turn on",
      onchange: (event) => this.setEnabled(rule, event.target.checked, event.target),
    });
    toggle.checked = Boolean(rule.enabled);
    const remove = el(
      "button",
      {
        type: "button",
        class: "icon-button rule-delete",
        title: "Delete this alert",
        "aria-label": `Delete alert: ${description}`,
        onclick: () => this.remove(rule),
      },
      "\u00d7",
    );
    return el(
      "li",
      { class: "rule", dataset: { ruleId: String(rule.id), enabled: String(Boolean(rule.enabled)) } },
      el("label", { class: "rule-switch" }, toggle),
      el(
        "div",
        { class: "rule-text" },
        el("span", { class: "rule-desc" }, description),
        el(
          "span",
          { class: "rule-meta muted" },
          el("span", { class: "rule-target" }, this.targetText(rule)),
          " \u00b7 ",
          fired,
          rule.channels?.length ? ` \u00b7 ${rule.channels.join(", ")}` : "",
        ),
      ),
      remove,
    );
  }

  async setEnabled(rule, enabled, input) {
    input.disabled = true;
    try {
      const { ok, status, body } = await this.api.update(rule.id, { enabled });
      if (!ok) {
        input.checked = !enabled;
        const why = errorPairs(body).map(([, m]) => m).join("; ");
        setText(this.status, `Could not ${enabled ? "enable" : "pause"} the alert: ${why || `HTTP ${status}`}`);
      }
    } finally {
      input.disabled = false;
    }
    await this.refresh();
  }

  async remove(rule) {
    const { ok, status } = await this.api.remove(rule.id);
    if (!ok && status !== 404) setText(this.status, `Could not delete the alert (HTTP ${status})`);
    await this.refresh();
  }
}

/**
 * Show an `alert` message's payload as a toast in `container` (an aria-live region):
 * the rule's name, its message and the time it fired; stays ALERT_TOAST_MS, stacks under
 * earlier ones, and has a dismiss button.
 */
export function alertToast(container, payload, { duration = ALERT_TOAST_MS } = {}) {
  const firedAt = payload.fired_at ? new Date(payload.fired_at) : new Date();
  const node = el(
    "div",
    {
      class: "toast toast-alert",
      role: "status",
      dataset: { eventId: String(payload.event_id ?? ""), ruleId: String(payload.rule_id ?? "") },
    },
    el("strong", { class: "toast-title" }, payload.name ? `Alert: ${payload.name}` : "Alert"),
    el("span", { class: "toast-message" }, payload.message || ""),
    el("time", { class: "toast-time muted", datetime: firedAt.toISOString() }, fmt.clock(firedAt)),
  );
  const dismiss = () => {
    clearTimeout(timer);
    node.remove();
  };
  node.append(
    el(
      "button",
      { type: "button", class: "toast-close icon-button", "aria-label": "Dismiss alert", title: "Dismiss", onclick: dismiss },
      "\u00d7",
    ),
  );
  container.append(node);
  const timer = setTimeout(dismiss, duration);
  return node;
}
