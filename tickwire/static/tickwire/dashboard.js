/**
 * /realtime/dashboard/: live watchlist, chart of the selected symbol, live portfolios.
 *
 * Everything live comes through one TickwireClient (tickwire-client.js), which reconnects,
 * resumes and keeps the heartbeat. The page draws at once from the JSON the view embeds
 * (last persisted quotes and portfolio values), then applies updates as they arrive.
 * The chart (chart.js, on TradingView Lightweight Charts) loads the selected symbol's bars
 * at the chosen interval (1m 5m 15m 1h 1d) from /api/assets/<symbol>/bars/ (the API's
 * default range for that interval), loads the page before it each time the user scrolls
 * back to the oldest bar, and extends the last bar with every asset_update; its caption
 * says how many bars it holds. Each portfolio card has a value chart (portfolio-chart.js):
 * /api/portfolios/<id>/history/, then every portfolio_update.
 * The watchlist, the selected symbol, the interval and the chart type are kept in
 * localStorage. A logged-in user also gets alerts (alerts.js): a bell on each watchlist row
 * and portfolio card opens the new-alert form, the Alerts panel lists the user's rules, and
 * each `alert` message the socket brings is shown as a toast.
 */

import { State, TickwireClient } from "./tickwire-client.js";
import { INTERVALS, PriceChart, parseBar } from "./chart.js";
import * as fmt from "./format.js";
import { $, el, flash, setDirection, setText, store, toast } from "./dom.js";
import { PortfolioPanel } from "./portfolios.js";
import { SymbolSearch } from "./search.js";
import { AlertForm, AlertsApi, RulesPanel, alertToast, bellIcon } from "./alerts.js";

const config = JSON.parse(document.getElementById("dashboard-config").textContent);
const STORE = {
  watchlist: "tickwire.dashboard.watchlist",
  selected: "tickwire.dashboard.selected",
  mode: "tickwire.dashboard.chartMode",
  interval: "tickwire.dashboard.interval",
};

// ---- alerts (logged in only) ------------------------------------------------------------

const alertsApi = config.authenticated && config.alertsApi ? new AlertsApi(config.alertsApi, config.csrfToken) : null;
const rulesPanel = alertsApi
  ? new RulesPanel($("alert-rules"), {
      api: alertsApi,
      count: $("alert-count"),
      empty: $("alerts-empty"),
      status: $("alert-status"),
      portfolioName: (id) => portfolios.name(id),
    })
  : null;
const alertForm = alertsApi
  ? new AlertForm($("alert-dialog"), alertsApi, (rule) => {
      toast(`Alert created: ${rule?.description || "rule saved"}`);
      rulesPanel.refresh();
    })
  : null;

function openAssetAlert(symbol) {
  const quote = rows.get(symbol)?.quote || meta.get(symbol) || { symbol };
  const price = fmt.toNumber(quote.price);
  // The level starts at the price as the row shows it, without thousands separators.
  const levelText = price === null ? null : fmt.price(price, quote.kind).replace(/,/g, "");
  alertForm.open({ asset: symbol, price, priceText: fmt.price(price, quote.kind), levelText });
}

function openPortfolioAlert(data) {
  const total = fmt.toNumber(data.total_value);
  alertForm.open({
    portfolio: Number(data.portfolio_id),
    name: data.name,
    currency: data.currency,
    price: total,
    levelText: total === null ? null : total.toFixed(2),
  });
}

// ---- assets and the watchlist ---------------------------------------------------------

const meta = new Map(); // symbol -> {symbol, name, kind, currency, price, ...}
for (const asset of config.assets) meta.set(asset.symbol, asset);

/** An asset from the REST API (decimals as strings, day_high/day_low) in quote shape. */
function fromApi(a) {
  return {
    symbol: a.symbol,
    name: a.name,
    kind: a.kind,
    currency: a.currency,
    price: fmt.toNumber(a.price),
    previous_close: fmt.toNumber(a.previous_close),
    change: fmt.toNumber(a.change),
    change_percent: fmt.toNumber(a.change_percent),
    volume: fmt.toNumber(a.volume),
    high: fmt.toNumber(a.day_high),
    low: fmt.toNumber(a.day_low),
  };
}

const rows = new Map(); // symbol -> {row, cells, quote}
// The server refuses a whole subscribe request past its per-connection limit, which
// portfolios count towards too; keep the watchlist under what is left.
const watchlistLimit = () => Math.max(1, config.maxSubscriptions - config.portfolios.length);
const tbody = document.querySelector("#watchlist tbody");
let watchlist = store.get(STORE.watchlist, null);
if (!Array.isArray(watchlist)) watchlist = config.defaultWatchlist.slice();
watchlist = [...new Set(watchlist.filter((s) => typeof s === "string"))].slice(0, watchlistLimit());

function saveWatchlist() {
  store.set(STORE.watchlist, [...rows.keys()]);
  setText($("watch-count"), `${rows.size} symbol${rows.size === 1 ? "" : "s"}`);
  $("watch-empty").hidden = rows.size > 0;
}

function buildRow(quote) {
  const cells = {
    price: el("td", { class: "num price", dataset: { field: "price" } }),
    change: el("td", { class: "num", dataset: { field: "change" } }),
    change_percent: el("td", { class: "num", dataset: { field: "change_percent" } }),
    volume: el("td", { class: "num col-volume", dataset: { field: "volume" } }),
    low: el("span", { dataset: { field: "low" } }),
    high: el("span", { dataset: { field: "high" } }),
    marker: el("span", { class: "range-marker" }),
  };
  const remove = el(
    "button",
    {
      type: "button",
      class: "icon-button remove",
      title: `Remove ${quote.symbol}`,
      "aria-label": `Remove ${quote.symbol} from the watchlist`,
      onclick: (event) => {
        event.stopPropagation();
        removeSymbol(quote.symbol);
      },
    },
    "\u00d7",
  );
  const alertButton = alertForm
    ? el(
        "button",
        {
          type: "button",
          class: "icon-button alert-button",
          title: `New alert on ${quote.symbol}`,
          "aria-label": `New alert on ${quote.symbol}`,
          onclick: (event) => {
            event.stopPropagation();
            openAssetAlert(quote.symbol);
          },
          // Enter on the bell opens the form; it is not the row's Enter (select the symbol).
          onkeydown: (event) => event.stopPropagation(),
        },
        bellIcon(),
      )
    : null;
  const row = el(
    "tr",
    {
      tabindex: "0",
      dataset: { symbol: quote.symbol, kind: quote.kind || "stock" },
      onclick: () => select(quote.symbol),
      onkeydown: (event) => {
        if (event.key === "Enter") select(quote.symbol);
        if (event.key === "Delete") removeSymbol(quote.symbol);
      },
    },
    el(
      "th",
      { scope: "row", class: "symbol" },
      el("span", { class: "sym" }, quote.symbol),
      el("span", { class: "asset-name" }, quote.name || ""),
    ),
    cells.price,
    cells.change,
    cells.change_percent,
    cells.volume,
    el(
      "td",
      { class: "num range", dataset: { field: "range" } },
      el("span", { class: "range-text" }, cells.low, " \u2013 ", cells.high),
      el("span", { class: "range-bar", "aria-hidden": "true" }, cells.marker),
    ),
    el("td", { class: "actions" }, alertButton, remove),
  );
  return { row, cells, quote: { ...quote } };
}

function renderRow(entry, update, isLive) {
  const { cells, quote } = entry;
  const kind = quote.kind;
  const previous = quote.price;
  Object.assign(quote, update);
  const price = fmt.toNumber(quote.price);
  setText(cells.price, fmt.price(price, kind));
  if (isLive && price !== null && previous !== null && previous !== undefined && price !== previous) {
    flash(cells.price, price > previous);
  }
  const reference = price ?? undefined;
  setText(cells.change, fmt.signed(quote.change, kind, reference));
  setDirection(cells.change, quote.change);
  setText(cells.change_percent, fmt.percent(quote.change_percent));
  setDirection(cells.change_percent, quote.change_percent);
  setText(cells.volume, fmt.volume(quote.volume, kind));
  setText(cells.low, fmt.price(quote.low, kind, reference));
  setText(cells.high, fmt.price(quote.high, kind, reference));
  const low = fmt.toNumber(quote.low);
  const high = fmt.toNumber(quote.high);
  if (price !== null && low !== null && high !== null && high > low) {
    const at = Math.min(1, Math.max(0, (price - low) / (high - low)));
    cells.marker.style.left = `${(at * 100).toFixed(1)}%`;
    cells.marker.hidden = false;
  } else {
    cells.marker.hidden = true;
  }
}

function addRow(quote) {
  if (rows.has(quote.symbol)) return rows.get(quote.symbol);
  const entry = buildRow(quote);
  rows.set(quote.symbol, entry);
  tbody.append(entry.row);
  renderRow(entry, {}, false);
  return entry;
}

async function fetchAsset(symbol) {
  const response = await fetch(`${config.assetsApi}${encodeURIComponent(symbol)}/`, {
    headers: { Accept: "application/json" },
  });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return fromApi(await response.json());
}

/** Add a symbol to the watchlist (and subscribe); `quote` when the caller has it. */
async function addSymbol(symbol, quote = null, { selectIt = true } = {}) {
  symbol = symbol.trim().toUpperCase();
  if (rows.has(symbol)) {
    if (selectIt) select(symbol);
    return true;
  }
  let asset = quote || meta.get(symbol);
  if (!asset) {
    try {
      asset = await fetchAsset(symbol);
    } catch (err) {
      toast(`Could not look up ${symbol}: ${err.message}`, "error");
      return false;
    }
    if (!asset) {
      toast(`${symbol} is not a known symbol`, "error");
      return false;
    }
  }
  if (rows.size >= watchlistLimit()) {
    toast(`The watchlist is full: at most ${watchlistLimit()} symbols per connection (MAX_SUBSCRIPTIONS_PER_CONNECTION). Remove one first.`, "error");
    return false;
  }
  meta.set(symbol, asset);
  addRow(asset);
  saveWatchlist();
  client.subscribe(symbol);
  if (selectIt) select(symbol);
  return true;
}

function removeSymbol(symbol) {
  const entry = rows.get(symbol);
  if (!entry) return;
  entry.row.remove();
  rows.delete(symbol);
  client.unsubscribe(symbol);
  saveWatchlist();
  if (selected === symbol) select(rows.keys().next().value ?? null);
}

// ---- search ---------------------------------------------------------------------------

new SymbolSearch({
  form: $("search-form"),
  input: $("symbol-search"),
  list: $("search-results"),
  assetsApi: config.assetsApi,
  fromApi,
  localMatches: (q) => {
    const needle = q.toUpperCase();
    return [...meta.values()].filter(
      (a) => a.symbol.includes(needle) || (a.name || "").toUpperCase().includes(needle),
    );
  },
  isAdded: (symbol) => rows.has(symbol),
  add: (symbol, asset) => addSymbol(symbol, asset),
});

// ---- chart ----------------------------------------------------------------------------

// The chart type the user picked; without one, candles when there is bar history to draw
// and a line (which shows every tick) when the chart starts from live ticks only.
const chosenMode = () => store.get(STORE.mode, null);
const chart = new PriceChart($("chart"), {
  mode: chosenMode() || "candles",
  onNeedOlder: () => loadOlder(),
  legend: $("chart-legend"),
});
let selected = null;
let interval = store.get(STORE.interval, "1m");
if (!INTERVALS[interval]) interval = "1m";
let barsLoading = null; // ticks that arrive while history loads: applied after it
let loadGeneration = 0; // a newer load (symbol or interval) makes an older response stale
let chartSource = null; // what the caption says about where the bars came from
// Scrolling back: the page being loaded, and whether the stored history has no more.
let olderLoading = null;
let olderDone = false;
let olderRetryAt = 0; // after a failed page, scrolling asks again only from then on
const modeButtons = document.querySelectorAll(".seg [data-mode]");
const intervalButtons = document.querySelectorAll(".seg [data-interval]");

function showMode() {
  for (const b of modeButtons) b.setAttribute("aria-pressed", String(b.dataset.mode === chart.mode));
}
for (const button of modeButtons) {
  button.addEventListener("click", () => {
    chart.setMode(button.dataset.mode);
    store.set(STORE.mode, chart.mode);
    showMode();
  });
}
showMode();

function showInterval() {
  for (const b of intervalButtons) b.setAttribute("aria-pressed", String(b.dataset.interval === interval));
}
for (const button of intervalButtons) {
  button.addEventListener("click", () => {
    if (!INTERVALS[button.dataset.interval] || button.dataset.interval === interval) return;
    interval = button.dataset.interval;
    store.set(STORE.interval, interval);
    showInterval();
    if (selected) loadBars(selected);
  });
}
showInterval();

const count = (n, word) => `${n.toLocaleString("en-US")} ${word} bar${n === 1 ? "" : "s"}`;

/** The caption under the chart: how many bars it holds and where they came from. */
function renderChartNote() {
  if (!chartSource) return;
  const label = INTERVALS[chart.interval].label;
  const live = chart.bars.length - chart.history;
  const liveText = live > 0 ? ` + ${live} live` : "";
  if (chartSource === "history") {
    let older = "scroll left for older bars";
    if (olderLoading) older = "loading older bars\u2026";
    else if (chart.full) older = "as many bars as the chart keeps";
    else if (olderDone) older = "the start of the stored history";
    setText(
      $("chart-note"),
      `${count(chart.history, label)} of history${liveText}, extended live with every tick; ${older}`,
    );
  } else {
    setText($("chart-note"), `${chartSource}; ${count(chart.bars.length, label)} from live ticks`);
  }
}

function renderChartHeader() {
  const entry = selected ? rows.get(selected) : null;
  if (!entry) {
    setText($("chart-symbol"), "\u2014");
    setText($("chart-name"), "");
    setText($("chart-price"), "");
    setText($("chart-change"), "");
    return;
  }
  const q = entry.quote;
  setText($("chart-symbol"), q.symbol);
  setText($("chart-name"), q.name || "");
  setText($("chart-price"), fmt.price(q.price, q.kind));
  const change = $("chart-change");
  setText(change, `${fmt.signed(q.change, q.kind, fmt.toNumber(q.price) ?? undefined)} (${fmt.percent(q.change_percent)})`);
  setDirection(change, q.change);
  document.title = `${q.symbol} ${fmt.price(q.price, q.kind)} · Dashboard · Tickwire`;
}

async function select(symbol) {
  if (selected === symbol && symbol !== null) return;
  if (selected && rows.has(selected)) rows.get(selected).row.classList.remove("selected");
  selected = symbol;
  store.set(STORE.selected, symbol);
  renderChartHeader();
  if (!symbol) {
    loadGeneration += 1;
    barsLoading = null;
    olderLoading = null;
    chartSource = null;
    chart.setSeries([], undefined, interval);
    setText($("chart-note"), "Select a symbol in the watchlist.");
    return;
  }
  rows.get(symbol)?.row.classList.add("selected");
  await loadBars(symbol);
}

/** Load `symbol`'s bars at the chosen interval into the chart; ticks meanwhile wait. */
async function loadBars(symbol) {
  const generation = ++loadGeneration;
  const wanted = interval;
  const kind = rows.get(symbol)?.quote.kind;
  olderLoading = null;
  olderDone = false;
  chartSource = null;
  chart.setSeries([], kind, wanted);
  const pending = [];
  barsLoading = pending;
  setText($("chart-note"), `Loading ${INTERVALS[wanted].label} bars\u2026`);
  const { bars, source } = await fetchBars(symbol, wanted);
  if (generation !== loadGeneration) return; // another symbol or interval was picked meanwhile
  barsLoading = null;
  chart.setSeries(bars, kind, wanted);
  chartSource = source;
  if (!chosenMode()) {
    chart.setMode(bars.length >= 5 ? "candles" : "line");
    showMode();
  }
  for (const tick of pending) chart.addTick(tick.price, tick.time, tick.volume);
  renderChartNote();
}

/**
 * `symbol`'s bars at `wanted` from the bars API: its default range, or the one ending just
 * before `before` (ms; the API's `end` is the last bar start it returns, inclusive).
 * `source` is "history", or what the caption says instead when there is none.
 */
async function fetchBars(symbol, wanted, before = null) {
  let url = `${config.assetsApi}${encodeURIComponent(symbol)}/bars/?interval=${wanted}`;
  if (before !== null) url += `&end=${before / 1000 - 1}`;
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      const source = response.status === 404
        ? "No bar history for this symbol"
        : `Bar history unavailable (HTTP ${response.status})`;
      return { bars: [], source, ok: false };
    }
    const body = await response.json();
    const bars = (Array.isArray(body.bars) ? body.bars : []).map(parseBar).filter(Boolean);
    return { bars, source: "history", ok: true };
  } catch (err) {
    return { bars: [], source: "Bar history unavailable", ok: false };
  }
}

/** The page of bars before the chart's oldest one, when the user has scrolled back to it.
 * An empty page means the stored history starts there; a failed one may be retried by
 * scrolling again. */
async function loadOlder() {
  if (olderLoading || olderDone || chartSource !== "history" || chart.full || !chart.bars.length) return;
  if (Date.now() < olderRetryAt) return;
  const generation = loadGeneration;
  const symbol = selected;
  const wanted = chart.interval;
  const task = fetchBars(symbol, wanted, chart.bars[0].t);
  olderLoading = task;
  renderChartNote();
  const { bars, ok } = await task;
  if (generation !== loadGeneration || olderLoading !== task) return;
  olderLoading = null;
  if (ok && chart.prependBars(bars) === 0) olderDone = true;
  if (!ok) {
    olderRetryAt = Date.now() + 5000;
    toast(`Could not load older ${INTERVALS[wanted].label} bars of ${symbol}`, "error");
  }
  renderChartNote();
}

// ---- portfolios -----------------------------------------------------------------------

const portfolios = new PortfolioPanel(
  $("portfolio-list"),
  (symbol) => meta.get(symbol)?.kind,
  alertForm ? (data) => openPortfolioAlert(data) : null,
);

/** A card's value chart history: today's holdings valued over the stored bars. */
async function loadPortfolioHistory(id) {
  try {
    const response = await fetch(`${config.portfoliosApi}${id}/history/?interval=5m`, {
      headers: { Accept: "application/json" },
    });
    if (!response.ok) {
      portfolios.setHistory(id, null, `HTTP ${response.status}`);
      return;
    }
    portfolios.setHistory(id, await response.json());
  } catch (err) {
    portfolios.setHistory(id, null, err.message);
  }
}

// ---- connection -----------------------------------------------------------------------

const client = new TickwireClient({ url: config.wsUrl, heartbeatInterval: config.heartbeatInterval });
const badge = $("conn-badge");
const detail = $("conn-detail");
let countdown = null;

const BADGE_TEXT = {
  [State.IDLE]: "idle",
  [State.CONNECTING]: "connecting",
  [State.OPEN]: "live",
  [State.RECONNECTING]: "reconnecting",
  [State.CLOSED]: "offline",
  [State.SESSION_ENDED]: "logged out",
};

function notice(text, actions = []) {
  const box = $("notice");
  if (!text) {
    box.hidden = true;
    return;
  }
  setText($("notice-text"), text);
  $("notice-actions").replaceChildren(...actions);
  box.hidden = false;
}

function closeLabel(code, reason) {
  const names = {
    1000: "closed",
    1001: "server going away",
    1006: "connection lost",
    1011: "server error",
    1012: "server restarting",
    4000: "idle timeout",
    4001: "too slow to keep up",
    4002: "too many connections",
    4100: "no heartbeat reply",
  };
  const name = reason || names[code] || "closed";
  return `${name} (${code})`;
}

client.on("state", ({ state, delay, code, reason }) => {
  badge.dataset.state = state;
  setText(badge, BADGE_TEXT[state] || state);
  clearInterval(countdown);
  countdown = null;
  if (state === State.OPEN) {
    setText(detail, config.authenticated ? `as ${config.username}` : "guest");
    notice(null);
    client.ping().catch(() => {}); // show the round trip at once, not after the first heartbeat
  } else if (state === State.RECONNECTING) {
    const due = Date.now() + (delay || 0);
    const why = code ? closeLabel(code, reason) : "";
    const tick = () => {
      const left = Math.max(0, due - Date.now());
      setText(detail, left > 0 ? `${why} \u00b7 retry in ${(left / 1000).toFixed(1)} s` : `${why} \u00b7 retrying`);
    };
    tick();
    countdown = setInterval(tick, 200);
    portfolios.markStale("reconnecting\u2026");
  } else if (state === State.SESSION_ENDED) {
    setText(detail, "session ended");
    notice("Your session ended, so live portfolio values stopped.", [
      el("a", { class: "button", href: config.loginUrl }, "Log in again"),
      el("button", { type: "button", class: "button secondary", onclick: () => location.reload() }, "Continue as guest"),
    ]);
  } else if (state === State.CLOSED) {
    setText(detail, code ? closeLabel(code, reason) : "closed");
    notice(`Disconnected: ${code ? closeLabel(code, reason) : "closed"}.`, [
      el("button", { type: "button", class: "button", onclick: () => client.connect() }, "Reconnect"),
    ]);
  }
});

client.on("rtt", ({ rtt, average }) => {
  setText($("rtt"), `RTT ${rtt.toFixed(1)} ms`);
  $("rtt").title = `WebSocket ping round trip; average of the last pings ${average.toFixed(1)} ms`;
});

client.on("resume", ({ symbols, recovered }) => {
  const lost = symbols.filter((s) => !recovered[s]);
  if (!lost.length) {
    toast(`Reconnected: ${symbols.length} symbol${symbols.length === 1 ? "" : "s"} resumed with every missed update.`);
    setText(detail, "resumed \u00b7 no gap");
  } else {
    toast(`Reconnected: missed updates for ${lost.length} symbol${lost.length === 1 ? "" : "s"} could not be replayed (server restarted); showing fresh prices.`);
    setText(detail, "resumed \u00b7 fresh snapshot");
  }
});

client.on("rejected", (what, why) => {
  if (what.symbols) {
    for (const symbol of what.symbols) {
      const entry = rows.get(symbol);
      if (entry) {
        entry.row.remove();
        rows.delete(symbol);
        if (selected === symbol) select(rows.keys().next().value ?? null);
      }
    }
    saveWatchlist();
    toast(`${what.symbols.join(", ")} removed: ${why.message || why.code}`, "error");
  } else if (what.portfolioId !== undefined) {
    portfolios.setLive(what.portfolioId, "unavailable", `live updates unavailable: ${why.message || why.code}`);
  }
});

client.on("asset_update", (data, message) => {
  const entry = rows.get(data.symbol);
  if (!entry) return;
  renderRow(entry, data, true);
  const time = Date.parse(message.timestamp);
  if (data.symbol === selected) {
    renderChartHeader();
    const volume = fmt.toNumber(data.volume);
    const price = fmt.toNumber(data.price);
    if (barsLoading) barsLoading.push({ price, time, volume });
    else {
      const before = chart.bars.length;
      chart.addTick(price, time, volume);
      if (chart.bars.length !== before) renderChartNote();
    }
  }
  setText($("last-tick"), `last tick ${fmt.clock(Number.isFinite(time) ? time : Date.now())}`);
});

client.on("portfolio_update", (data, message) => {
  const time = Date.parse(message.timestamp);
  portfolios.update(data, Number.isFinite(time) ? time : Date.now());
});

// A fired alert comes to every open connection of its owner, with no subscription.
client.on("alert", (data) => {
  alertToast($("toasts"), data);
  rulesPanel?.refresh();
});

client.on("subscribed", (data) => {
  const ids = data.portfolio_id !== undefined ? [data.portfolio_id] : data.portfolios || [];
  for (const id of ids) {
    if (portfolios.liveState(id) === "waiting") portfolios.setLive(id, "live", "live");
  }
});

client.on("error", (data, message) => {
  // Errors that answer one of our subscribe requests are reported as "rejected".
  if (message.id !== undefined && ["subscribe_asset", "subscribe_portfolio"].includes(data.request_type)) return;
  toast(`Server: ${data.message || data.code}`, "error");
});

// ---- start ----------------------------------------------------------------------------

for (const summary of config.portfolios) {
  portfolios.add(summary);
  client.subscribePortfolio(summary.portfolio_id);
  loadPortfolioHistory(summary.portfolio_id);
}
for (const symbol of watchlist) {
  const quote = meta.get(symbol);
  if (quote) addRow(quote);
}
saveWatchlist();
const known = watchlist.filter((s) => rows.has(s));
if (known.length) client.subscribe(known);
client.connect();
// Symbols saved earlier that this page does not know yet (added by search) are looked up.
for (const symbol of watchlist.filter((s) => !rows.has(s))) addSymbol(symbol, null, { selectIt: false });
const remembered = store.get(STORE.selected, null);
select(rows.has(remembered) ? remembered : rows.keys().next().value ?? null);
rulesPanel?.refresh();

// For debugging from the browser console.
window.tickwireDashboard = { client, chart, rows, portfolios, rulesPanel };
