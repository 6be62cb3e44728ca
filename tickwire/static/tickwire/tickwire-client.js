/**
 * Tickwire JavaScript client: one resilient WebSocket to /ws/realtime/.
 *
 * An ES module with no dependencies and no build step, served at
 * /static/tickwire/tickwire-client.js. Module scripts use its exports (TickwireClient,
 * State, CloseCode, ...); plain scripts use the same names on the global `window.Tickwire`
 * once the module has run (load it with a module script tag, then use the global from
 * deferred scripts placed after that tag, or from DOMContentLoaded). Reference and
 * examples: docs/js-client.md.
 *
 * What it does for you:
 * - reconnects after any drop with exponential backoff and jitter, except where the
 *   server said not to (4003 session ended, 1008/1009 policy closes) or you called close();
 *   a node draining for a restart (1012) is reconnected to at once, without the delay
 *   (once per stable connection, so a server that drains every connection is not hammered);
 * - remembers what you subscribed to and subscribes again after a reconnect, asking the
 *   server to resume every symbol from the last `seq` it delivered (`since` + `epoch`);
 *   the server replays what was missed (`recovered: true`) or sends a fresh snapshot;
 * - on a `resync` (the server lost a stream's history, e.g. its Redis restarted) goes on
 *   from the new epoch and seq the server names, so the next resume can be recovered;
 * - sends a `ping` every `heartbeatInterval` ms (keeps the server's idle timeout away and
 *   measures the round trip); a missing `pong` after `heartbeatTimeout` ms counts as a
 *   dead connection and starts a reconnect;
 * - splits batched frames (`configure {batch: true}`) into messages.
 *
 * It does not queue arbitrary messages while disconnected: send() throws then.
 * Subscriptions, which are state, are kept and re-sent instead.
 *
 * Events (client.on(name, callback) returns a function that removes the callback):
 *   any server message type   ("asset_update", "portfolio_update", "subscribed", "pong",
 *                             "error", ...): callback(data, message); types this client
 *                             does not know yet are passed on the same way, by their name
 *   "alert"     one of the user's alert rules fired (sent to every open connection of a
 *               logged-in user, no subscription, no seq): callback(payload, message),
 *               payload = {event_id, rule_id, name, target, condition, kind, value,
 *               measure, level, message, fired_at}
 *   "message"   every server message: callback(message)
 *   "frame"     every raw frame either way: callback({direction: "in"|"out", text, time})
 *   "state"     callback({state, previous, attempt, delay, code, reason})
 *   "close"     callback({code, reason, willReconnect, delay})
 *   "resume"    after a reconnect's subscribe reply: callback({symbols, recovered})
 *               where recovered maps symbol -> true (missed updates replayed) or false
 *               (they could not be; a fresh snapshot follows)
 *   "gap"       updates of a symbol were lost: a resume answered `recovered: false`
 *               (reason "not_recovered") or a `resync` (its reason): callback({symbol,
 *               lastSeq, lastEpoch, seq, epoch, reason}); the stream goes on at `epoch`
 *   "rejected"  a subscription the server refused, removed from the set to keep:
 *               callback({symbols} | {portfolioId}, {code, message})
 *   "rtt"       callback({rtt, average}) after each pong, in milliseconds
 *   "warning"   a frame the client could not parse: callback({text, reason})
 */

/** Connection states, in the order a connection normally goes through them. */
export const State = Object.freeze({
  IDLE: "idle", // created, connect() not called yet
  CONNECTING: "connecting", // first connection attempt in progress
  OPEN: "open", // connected: messages flow
  RECONNECTING: "reconnecting", // dropped; waiting for the next attempt, or attempting
  CLOSED: "closed", // closed for good (close() or a policy close); connect() restarts
  SESSION_ENDED: "session_ended", // the server closed with 4003: log in again
});

/** Close codes the server uses (docs/protocol.md). */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  IDLE_TIMEOUT: 4000,
  SLOW_CONSUMER: 4001,
  TOO_MANY_CONNECTIONS: 4002,
  SESSION_ENDED: 4003,
  // Used by this client when it gives up on a connection whose pong never came.
  HEARTBEAT_TIMEOUT: 4100,
});

const WS_OPEN = 1;
const DEFAULTS = Object.freeze({
  url: "/ws/realtime/",
  reconnect: true,
  backoffInitial: 500,
  backoffMax: 15000,
  backoffFactor: 2,
  // Fraction of each delay that is random: 0.5 waits between 50 % and 100 % of it, so
  // many pages dropped by one server restart do not come back in lockstep.
  jitter: 0.5,
  // A connection must stay up this long before the backoff starts over, so a server that
  // accepts and then closes at once (e.g. 4002) is not hammered.
  stableAfter: 5000,
  heartbeatInterval: 25000,
  heartbeatTimeout: 10000,
  requestTimeout: 10000,
  maxRetries: Infinity,
});

/** Error raised for failed requests: a server `error` reply, a timeout or a closed socket. */
export class TickwireError extends Error {
  /**
   * @param {string} code  the server's error code, or "timeout" / "not_connected" / "closed"
   * @param {string} message
   * @param {object} [reply]  the server's error message, when there is one
   */
  constructor(code, message, reply) {
    super(message);
    this.name = "TickwireError";
    this.code = code;
    this.reply = reply;
  }
}

/**
 * The wait before reconnect attempt number `attempt` (0-based), in milliseconds:
 * `min(max, initial * factor^attempt)`, of which the `jitter` fraction is random.
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const o = { ...DEFAULTS, ...options };
  const base = Math.min(o.backoffMax, o.backoffInitial * Math.pow(o.backoffFactor, attempt));
  const jitter = Math.min(Math.max(o.jitter, 0), 1);
  return Math.round(base * (1 - jitter) + base * jitter * random());
}

/** A ws:// or wss:// URL for `path` on the page's own host (absolute URLs pass through). */
export function resolveUrl(path = DEFAULTS.url, base = globalThis.location) {
  if (/^wss?:\/\//i.test(path)) return path;
  if (!base) throw new TypeError("a relative WebSocket URL needs a page location");
  const url = new URL(path, base.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function monotonicNow() {
  return typeof performance !== "undefined" && performance.now ? performance.now() : Date.now();
}

function normalizeSymbols(symbols) {
  const list = Array.isArray(symbols) ? symbols : [symbols];
  const out = [];
  for (const s of list) {
    if (typeof s !== "string" || !s.trim()) {
      throw new TypeError(`symbols must be non-empty strings, got ${JSON.stringify(s)}`);
    }
    const symbol = s.trim().toUpperCase();
    if (!out.includes(symbol)) out.push(symbol);
  }
  if (!out.length) throw new TypeError("at least one symbol is required");
  return out;
}

function portfolioKey(id) {
  const n = typeof id === "string" && /^\d+$/.test(id) ? Number(id) : id;
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new TypeError(`portfolio id must be a positive integer, got ${JSON.stringify(id)}`);
  }
  return n;
}

export class TickwireClient {
  /**
   * @param {object} [options]
   * @param {string} [options.url="/ws/realtime/"]  absolute ws(s):// URL or a path on this host
   * @param {boolean} [options.reconnect=true]  reconnect automatically after drops
   * @param {number} [options.backoffInitial=500]  first reconnect delay, ms
   * @param {number} [options.backoffMax=15000]  longest reconnect delay, ms
   * @param {number} [options.backoffFactor=2]
   * @param {number} [options.jitter=0.5]  random fraction of each delay, 0..1
   * @param {number} [options.stableAfter=5000]  ms a connection must last to reset the backoff
   * @param {number} [options.heartbeatInterval=25000]  ping period, ms (0 disables)
   * @param {number} [options.heartbeatTimeout=10000]  ms to wait for a pong before reconnecting
   * @param {number} [options.requestTimeout=10000]  default timeout of request(), ms
   * @param {number} [options.maxRetries=Infinity]  give up (state "closed") after this many
   * @param {Function} [options.WebSocket]  WebSocket implementation (default: the global)
   * @param {Function} [options.random]  random source for jitter (default Math.random)
   * @param {Function} [options.now]  clock for round trips, ms (default performance.now)
   * @throws {TypeError} an option has the wrong type or range
   */
  constructor(options = {}) {
    const o = { ...DEFAULTS, ...options };
    for (const name of ["backoffInitial", "backoffMax", "backoffFactor", "heartbeatInterval",
      "heartbeatTimeout", "requestTimeout", "stableAfter"]) {
      if (typeof o[name] !== "number" || !(o[name] >= 0)) {
        throw new TypeError(`option ${name} must be a non-negative number, got ${o[name]}`);
      }
    }
    if (!(o.maxRetries >= 0)) throw new TypeError("option maxRetries must be >= 0");
    this.options = o;
    this.url = resolveUrl(o.url);
    this._WebSocket = o.WebSocket || globalThis.WebSocket;
    if (typeof this._WebSocket !== "function") {
      throw new TypeError("no WebSocket implementation: pass options.WebSocket");
    }
    this._random = o.random || Math.random;
    this._now = o.now || monotonicNow;
    this._listeners = new Map();
    this._state = State.IDLE;
    this._socket = null;
    this._attempt = 0;
    // One immediate reconnect after a 1012 (server restarting) per stable connection.
    this._immediateLeft = true;
    this._timers = { reconnect: null, heartbeat: null, stable: null };
    this._nextId = 1;
    this._pending = new Map(); // request id -> {type, resolve, reject, timer, sentAt, ...}
    this._symbols = new Set(); // what to keep subscribed, across reconnects
    this._portfolios = new Set();
    this._positions = new Map(); // symbol -> {seq, epoch}: where to resume from
    this._refusals = new Map(); // request id -> symbols refused in a partial success
    this._rtts = [];
    this.rtt = null;
    this.connectionId = null;
    this.authenticated = false;
    this.userId = null;
    this.lastClose = null;
    this._onOnline = () => {
      if (this._state === State.RECONNECTING && this._timers.reconnect) this._retryNow();
    };
  }

  // -- state -----------------------------------------------------------------------------

  /** The connection state, one of {@link State}. */
  get state() {
    return this._state;
  }

  /** True while messages can be sent. */
  get isOpen() {
    return this._state === State.OPEN && this._socket !== null;
  }

  /** Symbols this client keeps subscribed (also while disconnected). */
  get symbols() {
    return [...this._symbols];
  }

  /** Portfolio ids this client keeps subscribed. */
  get portfolios() {
    return [...this._portfolios];
  }

  /** The last `{seq, epoch}` seen for `symbol`, or null: where a resume starts from. */
  position(symbol) {
    const p = this._positions.get(String(symbol).toUpperCase());
    return p ? { ...p } : null;
  }

  /** Reconnect attempts since the last stable connection. */
  get attempt() {
    return this._attempt;
  }

  // -- events ----------------------------------------------------------------------------

  /** Call `callback` on `event`; returns a function that removes it. */
  on(event, callback) {
    if (typeof callback !== "function") throw new TypeError("callback must be a function");
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(callback);
    return () => this.off(event, callback);
  }

  /** Remove a callback added with on(). */
  off(event, callback) {
    const set = this._listeners.get(event);
    if (set) set.delete(callback);
  }

  /** Like on(), for the next event only. */
  once(event, callback) {
    const off = this.on(event, (...args) => {
      off();
      callback(...args);
    });
    return off;
  }

  _emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const callback of [...set]) {
      try {
        callback(...args);
      } catch (err) {
        // A broken listener must not break the connection or the other listeners.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  _setState(state, detail = {}) {
    const previous = this._state;
    if (previous === state && !("delay" in detail)) return;
    this._state = state;
    this._emit("state", { state, previous, attempt: this._attempt, ...detail });
  }

  // -- connection ------------------------------------------------------------------------

  /** Open the connection (no-op while open or connecting). Returns the client. */
  connect() {
    if (this._socket) return this;
    this._clearTimer("reconnect");
    if (this._state !== State.RECONNECTING) {
      this._attempt = 0;
      this._setState(State.CONNECTING);
    }
    if (typeof globalThis.addEventListener === "function") {
      globalThis.removeEventListener("online", this._onOnline);
      globalThis.addEventListener("online", this._onOnline);
    }
    let socket;
    try {
      socket = new this._WebSocket(this.url);
    } catch (err) {
      this._scheduleReconnect(CloseCode.ABNORMAL, String(err && err.message ? err.message : err));
      return this;
    }
    this._socket = socket;
    socket.onopen = () => this._handleOpen(socket);
    socket.onmessage = (event) => this._handleFrame(socket, event.data);
    socket.onclose = (event) => this._handleClose(socket, event.code, event.reason || "");
    // onerror is always followed by onclose, which decides what happens next.
    socket.onerror = () => {};
    return this;
  }

  /**
   * Close for good: no reconnect. Subscriptions are kept, so connect() picks them up again.
   * @param {number} [code=1000]  1000 or 3000-4999
   * @param {string} [reason]
   */
  close(code = CloseCode.NORMAL, reason = "client closed") {
    this._clearTimer("reconnect");
    const socket = this._detach();
    if (socket) {
      try {
        socket.close(code, reason);
      } catch {
        socket.close();
      }
    }
    this._failPending("closed", "connection closed by the client");
    if (typeof globalThis.removeEventListener === "function") {
      globalThis.removeEventListener("online", this._onOnline);
    }
    const wasActive = this._state !== State.CLOSED && this._state !== State.IDLE;
    this._setState(State.CLOSED, { code, reason });
    if (socket || wasActive) this._emit("close", { code, reason, willReconnect: false });
  }

  /**
   * Drop the current connection and reconnect at once, resuming every subscription
   * (what a network drop does; useful to test resume).
   */
  reconnect() {
    const socket = this._detach();
    if (socket) {
      try {
        socket.close(CloseCode.NORMAL, "client reconnecting");
      } catch {
        socket.close();
      }
    }
    this._clearTimer("reconnect");
    this._failPending("closed", "connection dropped for a reconnect");
    this._setState(State.RECONNECTING, { code: CloseCode.NORMAL, reason: "reconnect" });
    this._emit("close", { code: CloseCode.NORMAL, reason: "reconnect", willReconnect: true, delay: 0 });
    this.connect();
  }

  _detach() {
    const socket = this._socket;
    this._socket = null;
    this._clearTimer("heartbeat");
    this._clearTimer("stable");
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    }
    return socket;
  }

  _handleOpen(socket) {
    if (socket !== this._socket) return;
    const resumed = this._state === State.RECONNECTING;
    this._setState(State.OPEN);
    this._timers.stable = setTimeout(() => {
      this._timers.stable = null;
      this._attempt = 0;
      this._immediateLeft = true;
    }, this.options.stableAfter);
    this._startHeartbeat();
    this._resubscribe(resumed);
  }

  _handleClose(socket, code, reason) {
    if (socket !== this._socket) return;
    this._detach();
    this.lastClose = { code, reason };
    this._failPending("closed", `connection closed (${code}${reason ? ": " + reason : ""})`);
    if (code === CloseCode.SESSION_ENDED) {
      // The session is gone: reconnecting would come back as someone else (or nobody).
      this._setState(State.SESSION_ENDED, { code, reason });
      this._emit("close", { code, reason, willReconnect: false });
      return;
    }
    if (
      code === CloseCode.POLICY_VIOLATION ||
      code === CloseCode.MESSAGE_TOO_BIG ||
      !this.options.reconnect
    ) {
      this._setState(State.CLOSED, { code, reason });
      this._emit("close", { code, reason, willReconnect: false });
      return;
    }
    if (code === CloseCode.SERVICE_RESTART && this._immediateLeft) {
      // The node is draining: another one (or this one, back) takes us now, and every
      // millisecond waited is one more update to replay on resume.
      this._immediateLeft = false;
      this._scheduleReconnect(code, reason, true);
      return;
    }
    this._scheduleReconnect(code, reason);
  }

  _scheduleReconnect(code, reason, immediate = false) {
    this._socket = null;
    if (!immediate && this._attempt >= this.options.maxRetries) {
      this._setState(State.CLOSED, { code, reason });
      this._emit("close", { code, reason, willReconnect: false });
      return;
    }
    const delay = immediate ? 0 : backoffDelay(this._attempt, this.options, this._random);
    if (!immediate) this._attempt += 1;
    this._setState(State.RECONNECTING, { code, reason, delay });
    this._emit("close", { code, reason, willReconnect: true, delay });
    this._clearTimer("reconnect");
    this._timers.reconnect = setTimeout(() => {
      this._timers.reconnect = null;
      this.connect();
    }, delay);
  }

  _retryNow() {
    this._clearTimer("reconnect");
    this.connect();
  }

  _clearTimer(name) {
    const timer = this._timers[name];
    if (timer !== null) {
      clearTimeout(timer);
      clearInterval(timer);
      this._timers[name] = null;
    }
  }

  // -- heartbeat -------------------------------------------------------------------------

  _startHeartbeat() {
    const { heartbeatInterval, heartbeatTimeout } = this.options;
    if (!heartbeatInterval) return;
    this._timers.heartbeat = setInterval(() => {
      const overdue = [...this._pending.values()].find(
        (p) => p.heartbeat && this._now() - p.sentAt > heartbeatTimeout,
      );
      if (overdue) {
        this._abandon(CloseCode.HEARTBEAT_TIMEOUT, `no pong in ${heartbeatTimeout} ms`);
        return;
      }
      if (![...this._pending.values()].some((p) => p.heartbeat)) {
        this.ping({ heartbeat: true }).catch(() => {});
      }
    }, heartbeatInterval);
  }

  /** Give up on a connection that stopped answering, without waiting for its close. */
  _abandon(code, reason) {
    const socket = this._detach();
    if (socket) {
      try {
        socket.close(code, reason);
      } catch {
        socket.close();
      }
    }
    this._failPending("closed", reason);
    this._scheduleReconnect(code, reason);
  }

  /**
   * Send a ping and resolve with the round trip in milliseconds.
   * @returns {Promise<number>}
   * @throws {TickwireError} (rejection) not connected, closed, or no pong in time
   */
  ping(options = {}) {
    const timeout = options.timeout ?? this.options.heartbeatTimeout;
    const heartbeat = Boolean(options.heartbeat);
    // Heartbeat ids start with "hb" so logs (like the test console's) can tell them apart.
    const id = heartbeat ? `hb${this._nextId++}` : undefined;
    return this.request("ping", {}, { timeout, heartbeat, id }).then(
      (reply) => reply.rtt,
    );
  }

  _recordRtt(rtt) {
    this.rtt = rtt;
    this._rtts.push(rtt);
    if (this._rtts.length > 20) this._rtts.shift();
    const average = this._rtts.reduce((a, b) => a + b, 0) / this._rtts.length;
    this._emit("rtt", { rtt, average });
  }

  // -- sending ---------------------------------------------------------------------------

  /**
   * Send one message `{type, data, id, timestamp}`; returns its id.
   * @throws {TickwireError} code "not_connected" while the socket is not open
   */
  send(type, data = {}, options = {}) {
    if (typeof type !== "string" || !type) throw new TypeError("type must be a non-empty string");
    const id = options.id ?? `c${this._nextId++}`;
    const message = { type, data, id, timestamp: new Date().toISOString() };
    this.sendRaw(JSON.stringify(message));
    return id;
  }

  /**
   * Send text exactly as given (the test console uses it to send anything at all).
   * @throws {TickwireError} code "not_connected" while the socket is not open
   */
  sendRaw(text) {
    const socket = this._socket;
    if (!socket || socket.readyState !== WS_OPEN) {
      throw new TickwireError("not_connected", `cannot send while ${this._state}`);
    }
    socket.send(text);
    this._emit("frame", { direction: "out", text, time: new Date() });
  }

  /**
   * Send a request and resolve with the server's reply (the message carrying the same id).
   * An `error` reply rejects with a TickwireError carrying the server's code.
   * @returns {Promise<object>} the reply message (for pongs, with `rtt` added)
   */
  request(type, data = {}, options = {}) {
    return this._request(type, data, options).promise;
  }

  _request(type, data, options) {
    const timeout = options.timeout ?? this.options.requestTimeout;
    let id = null;
    const promise = new Promise((resolve, reject) => {
      try {
        id = this.send(type, data, options);
      } catch (err) {
        reject(err);
        return;
      }
      const entry = {
        type,
        resolve,
        reject,
        sentAt: this._now(),
        heartbeat: Boolean(options.heartbeat),
        symbols: options.symbols || null,
        timer: null,
      };
      // The heartbeat's own check decides when a missing pong is fatal.
      if (timeout > 0 && !entry.heartbeat) {
        entry.timer = setTimeout(() => {
          this._pending.delete(id);
          reject(new TickwireError("timeout", `no reply to ${type} in ${timeout} ms`));
        }, timeout);
      }
      this._pending.set(id, entry);
    });
    return { id, promise };
  }

  _failPending(code, message) {
    this._refusals.clear();
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const entry of pending) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.reject(new TickwireError(code, message));
    }
  }

  // -- subscriptions ---------------------------------------------------------------------

  /**
   * Subscribe to asset updates; kept across reconnects. Returns the request's promise
   * (the `subscribed` reply) when connected, or null when it will be sent on connect.
   * Symbols the server refuses are dropped and reported with a "rejected" event.
   * @param {string|string[]} symbols
   * @throws {TypeError} a symbol is not a non-empty string
   */
  subscribe(symbols) {
    const list = normalizeSymbols(symbols);
    const fresh = list.filter((s) => !this._symbols.has(s));
    for (const s of list) this._symbols.add(s);
    if (!this.isOpen || !fresh.length) return null;
    const promise = this._subscribeAssets(fresh, {}, undefined);
    promise.catch(() => {}); // refusals are reported by the "rejected" event
    return promise;
  }

  /** Stop asset updates for `symbols` and forget their resume points. */
  unsubscribe(symbols) {
    const list = normalizeSymbols(symbols).filter((s) => this._symbols.has(s));
    for (const s of list) {
      this._symbols.delete(s);
      this._positions.delete(s);
    }
    if (!this.isOpen || !list.length) return null;
    return this.request("unsubscribe_asset", { symbols: list }).catch(() => null);
  }

  /** Subscribe to a portfolio's live value (owner only, logged in); kept across reconnects. */
  subscribePortfolio(portfolioId) {
    const id = portfolioKey(portfolioId);
    if (this._portfolios.has(id)) return null;
    this._portfolios.add(id);
    if (!this.isOpen) return null;
    return this._subscribePortfolio(id);
  }

  /** Stop a portfolio's updates. */
  unsubscribePortfolio(portfolioId) {
    const id = portfolioKey(portfolioId);
    if (!this._portfolios.delete(id) || !this.isOpen) return null;
    return this.request("unsubscribe_portfolio", { portfolio_id: id }).catch(() => null);
  }

  /** Authenticate this connection with an API token. Resolves with the reply. */
  authenticate(token) {
    return this.request("authenticate", { token });
  }

  /** Connection options, e.g. `{batch: true}`. Resolves with the `configured` reply. */
  configure(options) {
    return this.request("configure", options);
  }

  _subscribeAssets(symbols, since, epoch) {
    const data = { symbols };
    if (Object.keys(since).length) data.since = since;
    if (epoch) data.epoch = epoch;
    return this._request("subscribe_asset", data, { symbols }).promise;
  }

  _subscribePortfolio(id) {
    const promise = this.request("subscribe_portfolio", { portfolio_id: id });
    promise.catch((err) => {
      if (err.reply && this._portfolios.delete(id)) {
        this._emit("rejected", { portfolioId: id }, err.reply.data);
      }
    });
    return promise;
  }

  /**
   * After a subscribe reply (or error): symbols the server did not confirm were refused
   * (unknown symbol, limit reached) and are dropped, so reconnects do not ask for them
   * again. A partial success is followed by an `error` with the same id, which carries
   * the reason; the "rejected" event waits for it.
   */
  _confirmAssets(requested, reply, error) {
    const confirmed = new Set(reply && Array.isArray(reply.data.symbols) ? reply.data.symbols : []);
    const refused = requested.filter((s) => !confirmed.has(s) && this._symbols.has(s));
    if (!refused.length) return;
    for (const s of refused) {
      this._symbols.delete(s);
      this._positions.delete(s);
    }
    if (error) {
      this._emit("rejected", { symbols: refused }, error.data || {});
    } else {
      this._refusals.set(reply.id, refused);
    }
  }

  _resubscribe(resumed) {
    const plain = [];
    const byEpoch = new Map();
    for (const symbol of this._symbols) {
      const pos = resumed ? this._positions.get(symbol) : null;
      if (pos && pos.epoch) {
        if (!byEpoch.has(pos.epoch)) byEpoch.set(pos.epoch, {});
        byEpoch.get(pos.epoch)[symbol] = pos.seq;
      } else {
        plain.push(symbol);
      }
    }
    // One request per epoch: `epoch` is per request, positions are per symbol.
    for (const [epoch, since] of byEpoch) {
      this._subscribeAssets(Object.keys(since), since, epoch).catch(() => {});
    }
    if (plain.length) this._subscribeAssets(plain, {}, undefined).catch(() => {});
    for (const id of this._portfolios) this._subscribePortfolio(id).catch(() => {});
  }

  // -- receiving -------------------------------------------------------------------------

  _handleFrame(socket, text) {
    if (socket !== this._socket) return;
    if (typeof text !== "string") return; // the server sends text frames only
    this._emit("frame", { direction: "in", text, time: new Date() });
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      this._emit("warning", { text, reason: "frame is not JSON" });
      return;
    }
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    for (const message of messages) {
      if (!message || typeof message !== "object" || typeof message.type !== "string") {
        this._emit("warning", { text, reason: "message has no type" });
        continue;
      }
      this._handleMessage(message);
    }
  }

  _handleMessage(message) {
    const data = message.data && typeof message.data === "object" ? message.data : {};
    switch (message.type) {
      case "connection":
        this.connectionId = data.connection_id ?? null;
        this.authenticated = Boolean(data.authenticated);
        this.userId = data.user_id ?? null;
        break;
      case "subscribed":
        this._noteStreams(data);
        break;
      case "asset_update":
        this._noteSeq(data.symbol, message.seq);
        break;
      case "resync":
        this._noteResync(data);
        break;
      case "authenticated":
        this.authenticated = true;
        if (data.user_id !== undefined) this.userId = data.user_id;
        break;
      default:
        break;
    }
    if (message.type === "error" && this._refusals.has(message.id)) {
      const symbols = this._refusals.get(message.id);
      this._refusals.delete(message.id);
      this._emit("rejected", { symbols }, data);
    }
    const pending = message.id !== undefined ? this._pending.get(message.id) : undefined;
    if (pending) {
      this._pending.delete(message.id);
      if (pending.timer) clearTimeout(pending.timer);
      if (pending.symbols) {
        // Synchronously, before a batched error with the same id is handled.
        if (message.type === "error") this._confirmAssets(pending.symbols, null, message);
        else this._confirmAssets(pending.symbols, message, null);
      }
      if (message.type === "error") {
        pending.reject(
          new TickwireError(data.code || "error", data.message || "request failed", message),
        );
      } else {
        if (message.type === "pong") {
          message.rtt = this._now() - pending.sentAt;
          this._recordRtt(message.rtt);
        }
        pending.resolve(message);
      }
    }
    this._emit(message.type, data, message);
    this._emit("message", message);
  }

  _noteStreams(data) {
    const streams = data.streams && typeof data.streams === "object" ? data.streams : {};
    const recovered = {};
    for (const [symbol, stream] of Object.entries(streams)) {
      if (!stream || typeof stream !== "object") continue;
      if ("recovered" in stream) recovered[symbol] = Boolean(stream.recovered);
      const pos = this._positions.get(symbol);
      // After a successful resume the replayed updates move the position forward; in
      // every other case the stream starts over at the reply's seq (its snapshot's).
      if (stream.recovered === true && pos && pos.epoch === stream.epoch) continue;
      const next = { seq: Number(stream.seq) || 0, epoch: stream.epoch ?? null };
      this._positions.set(symbol, next);
      if (stream.recovered === false && pos) this._emitGap(symbol, pos, next, "not_recovered");
    }
    // `recovered` is only present in replies to a resume (a subscribe with `since`).
    if (Object.keys(recovered).length) {
      this._emit("resume", { symbols: Object.keys(recovered), recovered });
    }
  }

  _noteResync(data) {
    const symbol = data.symbol;
    if (typeof symbol !== "string" || typeof data.epoch !== "string") return;
    if (!this._symbols.has(symbol)) return;
    const seq = Number.isSafeInteger(data.seq) && data.seq > 0 ? data.seq : 0;
    const last = this._positions.get(symbol);
    // The snapshot that follows carries `seq` (none follows when it is 0): stand just
    // before it, so a resume from here still asks for it if the connection drops first.
    this._positions.set(symbol, { seq: Math.max(seq - 1, 0), epoch: data.epoch });
    this._emitGap(symbol, last, { seq, epoch: data.epoch }, data.reason || "resync");
  }

  _emitGap(symbol, last, next, reason) {
    this._emit("gap", {
      symbol,
      lastSeq: last ? last.seq : null,
      lastEpoch: last ? last.epoch : null,
      seq: next.seq,
      epoch: next.epoch,
      reason,
    });
  }

  _noteSeq(symbol, seq) {
    if (typeof symbol !== "string" || !Number.isSafeInteger(seq) || seq <= 0) return;
    const pos = this._positions.get(symbol);
    if (!pos) {
      this._positions.set(symbol, { seq, epoch: null });
    } else if (seq > pos.seq) {
      pos.seq = seq;
    }
  }
}

/** A new client, connected: `Tickwire.connect({url})`. */
export function connect(options) {
  return new TickwireClient(options).connect();
}

// For plain pages without modules of their own: window.Tickwire.TickwireClient.
if (typeof globalThis !== "undefined") {
  globalThis.Tickwire = Object.freeze({
    TickwireClient,
    TickwireError,
    State,
    CloseCode,
    backoffDelay,
    resolveUrl,
    connect,
  });
}
