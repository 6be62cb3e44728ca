/*
 * Tickwire home page: live quotes over /ws/realtime/.
 *
 * Subscribes to every symbol in the quotes table and applies "asset_update" messages to the
 * matching row, flashing the price cell on moves. The connection is the shared client
 * (tickwire-client.js, loaded with a dynamic import so this stays a plain script): it
 * reconnects with backoff, resumes from the last seq and keeps the heartbeat.
 * Number formatting mirrors tickwire/assets/templatetags/market.py.
 */
(function () {
  "use strict";

  var FLASH_MS = 600;
  var MISSING = "\u2014";

  var badge = document.getElementById("conn-badge");
  var lastTick = document.getElementById("last-tick");
  var rows = {};
  var symbols = [];
  Array.prototype.forEach.call(document.querySelectorAll("tr[data-symbol]"), function (row) {
    rows[row.dataset.symbol] = row;
    symbols.push(row.dataset.symbol);
  });

  // ---- formatting -------------------------------------------------------------------------

  function toNumber(value) {
    if (value === null || value === undefined || value === "") return null;
    var n = typeof value === "number" ? value : Number(value);
    return isFinite(n) ? n : null;
  }

  // Same rule as the server-side filters: FX 5 places (4 above 10, e.g. USD-JPY),
  // crypto and stocks 2, sub-unit crypto 6.
  function priceDecimals(kind, reference) {
    var magnitude = Math.abs(reference || 0);
    if (kind === "fx") return magnitude < 10 ? 5 : 4;
    if (kind === "crypto" && magnitude < 1) return 6;
    return 2;
  }

  function fixed(n, decimals) {
    return n.toLocaleString("en-US", {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
  }

  function formatPrice(value, kind, reference) {
    var n = toNumber(value);
    if (n === null) return MISSING;
    return fixed(n, priceDecimals(kind, reference === undefined ? n : reference));
  }

  function formatSigned(value, kind, reference) {
    var n = toNumber(value);
    if (n === null) return MISSING;
    var text = fixed(Math.abs(n), priceDecimals(kind, reference));
    return (n < 0 ? "-" : "+") + text;
  }

  function formatPercent(value) {
    var n = toNumber(value);
    if (n === null) return MISSING;
    return (n < 0 ? "-" : "+") + Math.abs(n).toFixed(2) + "%";
  }

  function formatVolume(value, kind) {
    var n = toNumber(value);
    if (n === null) return MISSING;
    return fixed(n, kind === "crypto" ? 2 : 0);
  }

  function direction(value) {
    var n = toNumber(value);
    if (n === null || n === 0) return "flat";
    return n > 0 ? "up" : "down";
  }

  // ---- rendering --------------------------------------------------------------------------

  function setState(state) {
    if (!badge) return;
    badge.dataset.state = state;
    badge.textContent = state;
  }

  function cell(row, field) {
    return row.querySelector('[data-field="' + field + '"]');
  }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function setDirection(el, value) {
    if (!el) return;
    el.classList.remove("up", "down", "flat");
    el.classList.add(direction(value));
  }

  function flash(el, cls) {
    if (!el) return;
    if (el._flashTimer) clearTimeout(el._flashTimer);
    el.classList.remove("flash-up", "flash-down");
    void el.offsetWidth; // restart the effect when ticks arrive back to back
    el.classList.add(cls);
    el._flashTimer = setTimeout(function () {
      el.classList.remove(cls);
      el._flashTimer = null;
    }, FLASH_MS);
  }

  function applyUpdate(data) {
    if (!data || typeof data.symbol !== "string") return;
    var row = rows[data.symbol.toUpperCase()];
    if (!row) return;
    var kind = row.dataset.kind;
    var price = toNumber(data.price);

    if (price !== null) {
      var previous = toNumber(row.dataset.price);
      var priceCell = cell(row, "price");
      setText(priceCell, formatPrice(price, kind));
      if (previous !== null && price !== previous) {
        flash(priceCell, price > previous ? "flash-up" : "flash-down");
      }
      row.dataset.price = String(data.price);
    }
    var reference = price !== null ? price : toNumber(row.dataset.price);

    if ("change" in data) {
      var changeCell = cell(row, "change");
      setText(changeCell, formatSigned(data.change, kind, reference));
      setDirection(changeCell, data.change);
    }
    if ("change_percent" in data) {
      var pctCell = cell(row, "change_percent");
      setText(pctCell, formatPercent(data.change_percent));
      setDirection(pctCell, data.change_percent);
    }
    if ("volume" in data) setText(cell(row, "volume"), formatVolume(data.volume, kind));
    if ("low" in data) setText(cell(row, "low"), formatPrice(data.low, kind, reference));
    if ("high" in data) setText(cell(row, "high"), formatPrice(data.high, kind, reference));
  }

  function noteTick(message) {
    if (!lastTick) return;
    var when = message.timestamp ? new Date(message.timestamp) : new Date();
    var time = isNaN(when.getTime()) ? "" : when.toLocaleTimeString();
    lastTick.textContent = "last tick " + time + (message.seq !== undefined ? " · seq " + message.seq : "");
  }

  // ---- connection -------------------------------------------------------------------------

  var BADGE = { open: "live", connecting: "connecting", reconnecting: "reconnecting", closed: "offline", session_ended: "offline" };

  // Ping often enough for the server's idle timeout (a third of it, at most every 25 s).
  function heartbeatInterval() {
    return fetch("/realtime/websocket-info/", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (info) {
        var timeout = info && info.limits && Number(info.limits.websocket_timeout);
        return timeout > 0 ? Math.min(25000, (timeout * 1000) / 3) : 25000;
      })
      .catch(function () { return 25000; });
  }

  Promise.all([import("./tickwire-client.js"), heartbeatInterval()]).then(
    function (loaded) {
      var client = new loaded[0].TickwireClient({ heartbeatInterval: loaded[1] });
      client.on("state", function (event) {
        setState(BADGE[event.state] || event.state);
      });
      client.on("asset_update", function (data, message) {
        applyUpdate(data);
        noteTick(message);
      });
      if (symbols.length) client.subscribe(symbols);
      client.connect();
    },
    function () {
      setState("offline"); // the client module could not load (very old browser?)
    }
  );
})();
