/**
 * /realtime/test/: an interactive console on the shared TickwireClient.
 *
 * Connect and disconnect, send any JSON (or any text), send each message type of the
 * protocol with one click, measure the ping round trip, and watch every raw frame either
 * way with its time. "Drop & resume" drops the socket to show the client's resume.
 */

import { State, TickwireClient, resolveUrl } from "./tickwire-client.js";
import * as fmt from "./format.js";

const config = JSON.parse(document.getElementById("console-config").textContent);
const $ = (id) => document.getElementById(id);
const MAX_ENTRIES = 2000;
const BODY_PREVIEW = 400;

const ui = {
  url: $("ws-url"),
  connect: $("connect"),
  disconnect: $("disconnect"),
  drop: $("drop"),
  ping: $("ping"),
  send: $("send"),
  composer: $("composer"),
  composerError: $("composer-error"),
  raw: $("opt-raw"),
  reconnect: $("opt-reconnect"),
  heartbeat: $("opt-heartbeat"),
  badge: $("conn-badge"),
  detail: $("conn-detail"),
  log: $("log"),
  logCount: $("log-count"),
  filters: {
    updates: $("f-updates"),
    heartbeat: $("f-heartbeat"),
    pause: $("f-pause"),
    follow: $("f-scroll"),
    type: $("f-type"),
  },
};
ui.url.value = resolveUrl(config.wsUrl);

const stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, reconnects: 0, rtts: [] };
let client = null;
let nextId = 1;

// ---- the frame log --------------------------------------------------------------------

const entries = []; // {n, time, direction, type, text, heartbeat, update}
let rendered = 0; // entries[0..rendered) are in the DOM (or filtered out)
let renderQueued = false;
let counter = 0;

function describe(text) {
  try {
    const parsed = JSON.parse(text);
    if (Array.isArray(parsed)) {
      return { type: `batch[${parsed.length}]`, update: parsed.every(isUpdate), parsed };
    }
    if (parsed && typeof parsed === "object") {
      let type = typeof parsed.type === "string" ? parsed.type : "(no type)";
      if (parsed.seq !== undefined) type += ` #${parsed.seq}`;
      return { type, update: isUpdate(parsed), parsed };
    }
    return { type: typeof parsed, update: false, parsed };
  } catch {
    return { type: "(not JSON)", update: false, parsed: undefined };
  }
}

function isUpdate(m) {
  return m && (m.type === "asset_update" || m.type === "portfolio_update");
}

function isHeartbeat(parsed) {
  return Boolean(
    parsed &&
      (parsed.type === "ping" || parsed.type === "pong") &&
      typeof parsed.id === "string" &&
      parsed.id.startsWith("hb"),
  );
}

function addEntry(direction, text, time = new Date(), heartbeat = false) {
  const info = direction === "sys" ? { type: "", update: false } : describe(text);
  entries.push({
    n: ++counter,
    time,
    direction,
    type: info.type,
    text,
    update: info.update,
    heartbeat: heartbeat || isHeartbeat(info.parsed),
    rawType: info.parsed && typeof info.parsed.type === "string" ? info.parsed.type : "",
  });
  if (entries.length > MAX_ENTRIES) {
    const drop = entries.length - MAX_ENTRIES;
    entries.splice(0, drop);
    rendered = Math.max(0, rendered - drop);
    while (ui.log.childElementCount > MAX_ENTRIES) ui.log.firstElementChild.remove();
  }
  queueRender();
}

function visible(entry) {
  const f = ui.filters;
  if (f.updates.checked && entry.update) return false;
  if (f.heartbeat.checked && entry.heartbeat) return false;
  const needle = f.type.value.trim().toLowerCase();
  if (needle && !entry.type.toLowerCase().includes(needle) && entry.direction !== "sys") return false;
  return true;
}

function entryNode(entry) {
  const arrow = { in: "\u2190", out: "\u2192", sys: "\u2022" }[entry.direction];
  const body = document.createElement("span");
  body.className = "body";
  const preview = entry.text.length > BODY_PREVIEW ? entry.text.slice(0, BODY_PREVIEW) + "\u2026" : entry.text;
  body.textContent = preview;
  if (entry.direction !== "sys") {
    body.title = "Click to expand";
    body.addEventListener("click", () => {
      const open = body.classList.toggle("open");
      if (!open) {
        body.textContent = preview;
        return;
      }
      try {
        body.textContent = JSON.stringify(JSON.parse(entry.text), null, 2);
      } catch {
        body.textContent = entry.text;
      }
    });
  }
  const li = document.createElement("li");
  li.dataset.direction = entry.direction;
  li.dataset.type = entry.rawType;
  const t = document.createElement("span");
  t.className = "t";
  t.textContent = fmt.clock(entry.time);
  const d = document.createElement("span");
  d.className = `dir-${entry.direction}`;
  d.textContent = arrow;
  d.title = { in: "received", out: "sent", sys: "client event" }[entry.direction];
  const ty = document.createElement("span");
  ty.className = "ty";
  ty.textContent = entry.type;
  li.append(t, d, ty, body);
  return li;
}

function queueRender() {
  if (renderQueued || ui.filters.pause.checked) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    const fragment = document.createDocumentFragment();
    for (; rendered < entries.length; rendered++) {
      if (visible(entries[rendered])) fragment.append(entryNode(entries[rendered]));
    }
    ui.log.append(fragment);
    while (ui.log.childElementCount > MAX_ENTRIES) ui.log.firstElementChild.remove();
    ui.logCount.textContent = `${counter} frame${counter === 1 ? "" : "s"}${
      ui.filters.pause.checked ? " (paused)" : ""
    }`;
    if (ui.filters.follow.checked) ui.log.scrollTop = ui.log.scrollHeight;
  });
}

function rerender() {
  ui.log.replaceChildren();
  rendered = 0;
  queueRender();
}

for (const name of ["updates", "heartbeat"]) ui.filters[name].addEventListener("change", rerender);
ui.filters.type.addEventListener("input", rerender);
ui.filters.pause.addEventListener("change", () => {
  if (!ui.filters.pause.checked) queueRender();
  else ui.logCount.textContent += " (paused)";
});
$("clear").addEventListener("click", () => {
  entries.length = 0;
  counter = 0;
  rerender();
});

// ---- stats ----------------------------------------------------------------------------

function renderStats() {
  $("st-frames").textContent = `${stats.framesIn} / ${stats.framesOut}`;
  $("st-bytes").textContent = `${stats.bytesIn.toLocaleString("en-US")} / ${stats.bytesOut.toLocaleString("en-US")}`;
  $("st-reconnects").textContent = String(stats.reconnects);
  const subs = client ? [...client.symbols, ...client.portfolios.map((id) => `portfolio ${id}`)] : [];
  $("st-subs").textContent = subs.length ? subs.join(", ") : "\u2014";
  $("st-subs").title = subs.join(", ");
}

function renderRtt(rtt) {
  stats.rtts.push(rtt);
  if (stats.rtts.length > 100) stats.rtts.shift();
  const min = Math.min(...stats.rtts);
  const max = Math.max(...stats.rtts);
  const avg = stats.rtts.reduce((a, b) => a + b, 0) / stats.rtts.length;
  $("rtt-last").textContent = `${rtt.toFixed(1)} ms`;
  $("rtt-stats").textContent = `min / avg / max: ${min.toFixed(1)} / ${avg.toFixed(1)} / ${max.toFixed(1)} ms over ${stats.rtts.length} ping${stats.rtts.length === 1 ? "" : "s"}`;
}

function setConnectedUi(state) {
  const open = state === State.OPEN;
  const active = open || state === State.CONNECTING || state === State.RECONNECTING;
  ui.connect.disabled = active;
  ui.disconnect.disabled = !active;
  ui.drop.disabled = !open;
  ui.ping.disabled = !open;
  ui.send.disabled = !open;
  ui.url.disabled = active;
  for (const b of document.querySelectorAll("#quick [data-send]")) b.disabled = !open;
}

// ---- connecting -----------------------------------------------------------------------

function connect() {
  let url;
  try {
    url = resolveUrl(ui.url.value.trim());
  } catch (err) {
    addEntry("sys", `invalid URL: ${err.message}`);
    return;
  }
  if (client) client.close();
  client = new TickwireClient({
    url,
    reconnect: ui.reconnect.checked,
    heartbeatInterval: ui.heartbeat.checked ? config.heartbeatInterval : 0,
  });
  client.on("frame", ({ direction, text, time }) => {
    if (direction === "in") {
      stats.framesIn += 1;
      stats.bytesIn += new Blob([text]).size;
    } else {
      stats.framesOut += 1;
      stats.bytesOut += new Blob([text]).size;
    }
    addEntry(direction, text, time);
    renderStats();
  });
  client.on("state", ({ state, delay, code, reason }) => {
    ui.badge.dataset.state = state;
    ui.badge.textContent = state === State.OPEN ? "live" : state.replace("_", " ");
    $("st-state").textContent = state;
    setConnectedUi(state);
    let text = state;
    if (state === State.RECONNECTING) {
      text = `reconnecting in ${((delay || 0) / 1000).toFixed(1)} s (attempt ${client.attempt})`;
    } else if (state === State.OPEN) {
      text = `connected to ${url}`;
    } else if (code) {
      text = `${state} (${code}${reason ? ": " + reason : ""})`;
    }
    ui.detail.textContent = text;
    addEntry("sys", text);
  });
  client.on("close", ({ code, reason, willReconnect }) => {
    if (willReconnect) stats.reconnects += 1;
    addEntry("sys", `socket closed ${code}${reason ? " " + reason : ""}${willReconnect ? "" : " (no reconnect)"}`);
    $("st-conn").textContent = "\u2014";
    renderStats();
  });
  client.on("connection", (data) => {
    $("st-conn").textContent = data.connection_id || "\u2014";
    $("st-user").textContent = data.authenticated ? `user ${data.user_id}` : "anonymous";
  });
  client.on("authenticated", (data) => {
    $("st-user").textContent = `user ${data.user_id ?? "?"} (token)`;
  });
  client.on("rtt", ({ rtt }) => renderRtt(rtt));
  client.on("resume", ({ recovered }) => {
    const parts = Object.entries(recovered).map(([s, ok]) => `${s}: ${ok ? "recovered" : "fresh snapshot"}`);
    addEntry("sys", `resumed \u2014 ${parts.join(", ")}`);
  });
  client.on("rejected", (what, why) => {
    const subject = what.symbols ? what.symbols.join(", ") : `portfolio ${what.portfolioId}`;
    addEntry("sys", `${subject} not subscribed: ${why.code || ""} ${why.message || ""}`);
    renderStats();
  });
  client.on("subscribed", renderStats);
  client.on("unsubscribed", renderStats);
  client.connect();
}

ui.connect.addEventListener("click", connect);
ui.disconnect.addEventListener("click", () => client && client.close(1000, "closed from the test console"));
ui.drop.addEventListener("click", () => client && client.reconnect());
ui.reconnect.addEventListener("change", () => {
  if (client) client.options.reconnect = ui.reconnect.checked;
});
ui.heartbeat.addEventListener("change", () => {
  addEntry("sys", `heartbeat ${ui.heartbeat.checked ? "on" : "off"} from the next connection`);
});

// ---- sending --------------------------------------------------------------------------

function showError(text) {
  ui.composerError.textContent = text;
}

function pingNow() {
  if (!client) return;
  client.ping({ timeout: 10000 }).then(
    (rtt) => addEntry("sys", `pong in ${rtt.toFixed(1)} ms`),
    (err) => addEntry("sys", `ping failed: ${err.message}`),
  );
}
ui.ping.addEventListener("click", pingNow);

function symbolsInput() {
  return $("q-symbols").value.split(/[\s,]+/).map((s) => s.trim().toUpperCase()).filter(Boolean);
}

function fillComposer(message) {
  ui.composer.value = JSON.stringify(message, null, 2);
}

/** One message per click; subscriptions go through the client, so "Drop & resume" resumes them. */
function quickSend(type) {
  if (!client || !client.isOpen) return;
  showError("");
  const symbols = symbolsInput();
  const portfolioId = $("q-portfolio").value.trim();
  const id = `q${nextId++}`;
  const noop = () => {};
  switch (type) {
    case "ping":
      fillComposer({ type: "ping", data: {}, id });
      pingNow();
      return;
    case "subscribe_asset":
      if (!symbols.length) return showError("Enter a symbol first");
      fillComposer({ type, data: { symbols }, id });
      if (symbols.every((s) => client.symbols.includes(s))) {
        // Already kept by the client: ask again anyway, the server answers with a snapshot.
        client.request(type, { symbols }, { id }).catch(noop);
      } else {
        client.subscribe(symbols);
      }
      return;
    case "unsubscribe_asset":
      if (!symbols.length) return showError("Enter a symbol first");
      fillComposer({ type, data: { symbols }, id });
      if (symbols.some((s) => client.symbols.includes(s))) client.unsubscribe(symbols);
      else client.request(type, { symbols }, { id }).catch(noop);
      return;
    case "subscribe": {
      // The short form, sent as it is written in many APIs' docs (no data envelope).
      if (!symbols.length) return showError("Enter a symbol first");
      const message = { type: "subscribe", symbol: symbols[0], id };
      fillComposer(message);
      client.sendRaw(JSON.stringify(message));
      return;
    }
    case "subscribe_portfolio":
    case "unsubscribe_portfolio": {
      const data = { portfolio_id: /^\d+$/.test(portfolioId) ? Number(portfolioId) : portfolioId };
      fillComposer({ type, data, id });
      const tracked = client.portfolios.includes(data.portfolio_id);
      if (type === "subscribe_portfolio" && !tracked && Number.isSafeInteger(data.portfolio_id) && data.portfolio_id > 0) {
        client.subscribePortfolio(data.portfolio_id);
      } else if (type === "unsubscribe_portfolio" && tracked) {
        client.unsubscribePortfolio(data.portfolio_id);
      } else {
        // Sent as given, so the server's validation can be seen too.
        client.request(type, data, { id }).catch(noop);
      }
      return;
    }
    case "authenticate": {
      const token = $("q-token").value;
      fillComposer({ type, data: { token }, id });
      client.request(type, { token }, { id }).catch(noop);
      return;
    }
    case "configure": {
      const batch = $("q-batch").value === "true";
      fillComposer({ type, data: { batch }, id });
      client.request(type, { batch }, { id }).catch(noop);
      return;
    }
    default:
      return;
  }
}

for (const button of document.querySelectorAll("#quick [data-send]")) {
  button.addEventListener("click", () => quickSend(button.dataset.send));
}

function sendComposed() {
  showError("");
  if (!client || !client.isOpen) {
    showError("Not connected: press Connect first");
    return;
  }
  const text = ui.composer.value;
  if (!ui.raw.checked) {
    try {
      JSON.parse(text);
    } catch (err) {
      showError(`Not valid JSON (${err.message}); tick "send as raw text" to send it anyway`);
      return;
    }
  }
  try {
    client.sendRaw(ui.raw.checked ? text : JSON.stringify(JSON.parse(text)));
  } catch (err) {
    showError(err.message);
  }
}

ui.send.addEventListener("click", sendComposed);
ui.composer.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    sendComposed();
  }
});

setConnectedUi(State.IDLE);
renderStats();
addEntry("sys", `ready: press Connect to open ${ui.url.value}`);

// For debugging from the browser console.
window.tickwireConsole = { get client() { return client; }, entries };
