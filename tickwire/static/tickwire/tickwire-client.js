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
 *
 * The types below are JSDoc: the npm package (clients/js/) generates its TypeScript
 * declarations from them, and its tests compile a typed example against those.
 */

// -- types: server messages (docs/protocol.md) -------------------------------------------

/**
 * A server message: `{type, data, timestamp}`, with the request's `id` on replies and the
 * channel's `seq` on channel updates.
 * @template {string} T
 * @template D
 * @typedef {object} Envelope
 * @property {T} type
 * @property {D} data
 * @property {string} [timestamp]  ISO-8601 UTC; for updates, the time of the tick
 * @property {string | number} [id]  the id of the request this message answers
 * @property {number} [seq]  the channel's sequence number (asset and portfolio updates)
 */

/**
 * `connection`: sent once, when the socket opens.
 * @typedef {object} ConnectionData
 * @property {"connected"} status
 * @property {string} connection_id
 * @property {boolean} authenticated
 * @property {number | null} user_id
 * @property {number} protocol_version
 */

/**
 * `pong`: the answer to `ping` (no fields).
 * @typedef {Record<string, never>} PongData
 */

/**
 * Where a subscribed channel stands: its top `seq` in `epoch`.
 * @typedef {object} StreamPosition
 * @property {number} seq
 * @property {string} epoch
 * @property {boolean} [recovered]  only on a resume: whether every missed update follows
 */

/**
 * `subscribed` for symbols.
 * @typedef {object} SubscribedAssetsData
 * @property {string[]} symbols  the symbols now subscribed (upper-case)
 * @property {Record<string, StreamPosition>} streams  per symbol
 * @property {number} subscription_count
 */

/**
 * `subscribed` for a portfolio: its stream's `seq` and `epoch` beside `portfolio_id`.
 * @typedef {object} SubscribedPortfolioData
 * @property {number} portfolio_id
 * @property {number} seq
 * @property {string} epoch
 * @property {boolean} [recovered]
 * @property {number} subscription_count
 */

/** @typedef {SubscribedAssetsData | SubscribedPortfolioData} SubscribedData */

/**
 * `unsubscribed`: `{symbols, subscription_count}` or `{portfolio_id, subscription_count}`.
 * @typedef {{symbols: string[], subscription_count: number}
 *   | {portfolio_id: number, subscription_count: number}} UnsubscribedData
 */

/**
 * `asset_update`: the latest state of one symbol. `change = price - previous_close`,
 * `change_percent` is relative to `previous_close` (4 decimals); `high`, `low` and `volume`
 * are the day's (volume cumulative).
 * @typedef {object} AssetUpdateData
 * @property {string} symbol
 * @property {number} price
 * @property {number} change
 * @property {number} change_percent
 * @property {number} volume
 * @property {number} high
 * @property {number} low
 * @property {number} previous_close
 * @property {string} currency  the asset's quote currency, e.g. "USD"
 */

/**
 * One holding in a `portfolio_update`. `price` and `previous_close` are in the position's
 * `currency`; `value` and `daily_change` in the portfolio's, converted at `fx_rate`. The
 * valued fields are null when `error` says why the position could not be valued.
 * @typedef {object} PositionValue
 * @property {string} symbol
 * @property {number} quantity
 * @property {number} average_cost
 * @property {string} currency
 * @property {number | null} price
 * @property {number | null} previous_close
 * @property {number | null} fx_rate
 * @property {number | null} value
 * @property {number | null} daily_change
 * @property {number | null} daily_change_percent
 * @property {{code: string, message: string} | null} error
 */

/**
 * `portfolio_update`: a portfolio's live value. Totals are null when `status` is
 * `"error"` (a holding has no price or no exchange rate yet; `errors` names it).
 * @typedef {object} PortfolioUpdateData
 * @property {number} portfolio_id
 * @property {string} name
 * @property {string} currency
 * @property {number | null} total_value
 * @property {number | null} daily_change
 * @property {number | null} daily_change_percent
 * @property {"ok" | "error"} status
 * @property {{symbol: string, code: string, message: string}[]} errors
 * @property {PositionValue[]} positions
 */

/**
 * `authenticated`: the reply to `authenticate`.
 * @typedef {object} AuthenticatedData
 * @property {true} authenticated
 * @property {number} user_id
 * @property {string} username
 */

/**
 * `configured`: the connection's options after `configure`.
 * @typedef {object} ConfiguredData
 * @property {boolean} batch
 */

/**
 * `resync`: a channel's history was lost; a snapshot follows and updates go on from `seq`
 * in `epoch`. `symbol` names an asset channel, `portfolio_id` a portfolio channel.
 * @typedef {object} ResyncData
 * @property {string} channel
 * @property {string} [symbol]
 * @property {number} [portfolio_id]
 * @property {number} seq
 * @property {string} epoch
 * @property {false} recovered
 * @property {string} reason  e.g. "epoch_changed"
 */

/**
 * `alert`: one of the logged-in user's alert rules fired. Numbers are decimal strings.
 * @typedef {object} AlertData
 * @property {string} event_id  the event's idempotency key
 * @property {number | null} rule_id  null once the rule is deleted
 * @property {string} name
 * @property {{asset: string} | {portfolio: number}} target
 * @property {string} condition  the rule's condition kind ("above", "cross", "move", ...)
 * @property {string} kind  the line that fired ("above", "cross_up", "move_down", ...)
 * @property {string} value
 * @property {string} measure
 * @property {string} level
 * @property {string} message
 * @property {string} fired_at  ISO-8601 UTC
 */

/**
 * The server's stable error codes (docs/protocol.md); a newer server may add codes.
 * @typedef {"invalid_json" | "invalid_message" | "unknown_type" | "missing_field"
 *   | "invalid_field" | "unknown_symbol" | "subscription_limit" | "authentication_required"
 *   | "authentication_failed" | "portfolio_not_found" | "rate_limited" | "internal_error"
 *   | (string & {})} ServerErrorCode
 */

/**
 * `error`: a request was refused (the connection stays open).
 * @typedef {object} ErrorData
 * @property {ServerErrorCode} code
 * @property {string} message  for people
 * @property {string} [request_type]  the request that failed, when it could be read
 * @property {number} [portfolio_id]  on a portfolio that was deleted or given away
 */

/**
 * The `data` of each server message type.
 * @typedef {object} ServerMessageDataMap
 * @property {ConnectionData} connection
 * @property {PongData} pong
 * @property {SubscribedData} subscribed
 * @property {UnsubscribedData} unsubscribed
 * @property {AssetUpdateData} asset_update
 * @property {PortfolioUpdateData} portfolio_update
 * @property {AuthenticatedData} authenticated
 * @property {ConfiguredData} configured
 * @property {ResyncData} resync
 * @property {AlertData} alert
 * @property {ErrorData} error
 */

/** @typedef {keyof ServerMessageDataMap} ServerMessageType */

/**
 * The server message of type `T`; a `pong` that answered a request carries `rtt` (ms).
 * @template {ServerMessageType} T
 * @typedef {Envelope<T, ServerMessageDataMap[T]> & (T extends "pong" ? {rtt?: number} : {})}
 *   ServerMessage
 */

/**
 * Any server message this client knows, told apart by `type`. (Types it does not know
 * are emitted too, under their own name, as {@link UnknownServerMessage}.)
 * @typedef {{[T in ServerMessageType]: ServerMessage<T>}[ServerMessageType]} AnyServerMessage
 */

/** @typedef {Envelope<string, Record<string, unknown>>} UnknownServerMessage */

// -- types: options, events, sockets -----------------------------------------------------

/**
 * A connection state, one of the values of {@link State}.
 * @typedef {typeof State[keyof typeof State]} ConnectionState
 */

/**
 * A socket-handler slot, checked like a method (bivariantly), so the browser's WebSocket,
 * Node's and the `ws` package's all fit though their event classes differ.
 * @template E
 * @typedef {{handle(event: E): void}["handle"]} SocketHandler
 */

/**
 * What the client needs of a WebSocket: the browser's (or Node's from 22 on) by default.
 * @typedef {object} WebSocketLike
 * @property {number} readyState  1 while open
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 * @property {SocketHandler<unknown> | null} onopen
 * @property {SocketHandler<{data: unknown}> | null} onmessage
 * @property {SocketHandler<{code: number, reason?: string}> | null} onclose
 * @property {SocketHandler<unknown> | null} onerror
 */

/** @typedef {new (url: string) => WebSocketLike} WebSocketConstructor */

/**
 * Options of {@link TickwireClient}; every one has a default.
 * @typedef {object} TickwireOptions
 * @property {string} [url]  absolute ws(s):// URL or a path on this page's host
 *   (default "/ws/realtime/")
 * @property {boolean} [reconnect]  reconnect automatically after drops (default true)
 * @property {number} [backoffInitial]  first reconnect delay, ms (default 500)
 * @property {number} [backoffMax]  longest reconnect delay, ms (default 15000)
 * @property {number} [backoffFactor]  growth of the delay per attempt (default 2)
 * @property {number} [jitter]  random fraction of each delay, 0..1 (default 0.5)
 * @property {number} [stableAfter]  ms a connection must last to reset the backoff (5000)
 * @property {number} [heartbeatInterval]  ping period, ms; 0 disables (default 25000)
 * @property {number} [heartbeatTimeout]  ms to wait for a pong before reconnecting (10000)
 * @property {number} [requestTimeout]  default timeout of request(), ms (default 10000)
 * @property {number} [maxRetries]  give up (state "closed") after this many failed
 *   attempts (default Infinity)
 * @property {WebSocketConstructor} [WebSocket]  WebSocket implementation (default: the
 *   global one)
 * @property {() => number} [random]  random source in [0, 1) for jitter (Math.random)
 * @property {() => number} [now]  clock for round trips, ms (default performance.now)
 */

/**
 * The backoff options {@link backoffDelay} reads.
 * @typedef {Pick<TickwireOptions, "backoffInitial" | "backoffMax" | "backoffFactor"
 *   | "jitter">} BackoffOptions
 */

/**
 * The options in force: the defaults with the constructor's options over them.
 * @typedef {Required<Omit<TickwireOptions, "WebSocket" | "random" | "now">>
 *   & Pick<TickwireOptions, "WebSocket" | "random" | "now">} ResolvedOptions
 */

/**
 * @typedef {object} RequestOptions
 * @property {string | number} [id]  the request id (default: a fresh "c<n>")
 * @property {number} [timeout]  ms to wait for the reply; 0 waits for ever
 *   (default: the client's `requestTimeout`)
 */

/**
 * @typedef {object} PingOptions
 * @property {number} [timeout]  ms to wait for the pong (default: `heartbeatTimeout`)
 */

/**
 * The reply a request of type `T` resolves with (an `error` reply rejects instead).
 * @template {string} T
 * @typedef {T extends "ping" ? ServerMessage<"pong"> & {rtt: number}
 *   : T extends "subscribe_asset" | "subscribe" | "subscribe_portfolio"
 *     ? ServerMessage<"subscribed">
 *   : T extends "unsubscribe_asset" | "unsubscribe" | "unsubscribe_portfolio"
 *     ? ServerMessage<"unsubscribed">
 *   : T extends "authenticate" ? ServerMessage<"authenticated">
 *   : T extends "configure" ? ServerMessage<"configured">
 *   : AnyServerMessage | UnknownServerMessage} ReplyTo
 */

/**
 * `frame`: one raw frame, either way.
 * @typedef {object} FrameEvent
 * @property {"in" | "out"} direction
 * @property {string} text
 * @property {Date} time
 */

/**
 * `state`: the connection state changed. `delay` is the wait before the next attempt (when
 * reconnecting); `code` and `reason` are the close's that caused it, when one did.
 * @typedef {object} StateEvent
 * @property {ConnectionState} state
 * @property {ConnectionState} previous
 * @property {number} attempt
 * @property {number} [delay]
 * @property {number} [code]
 * @property {string} [reason]
 */

/**
 * `close`: a socket closed; `willReconnect` says whether the client tries again, after
 * `delay` ms.
 * @typedef {object} CloseDetail
 * @property {number} code
 * @property {string} reason
 * @property {boolean} willReconnect
 * @property {number} [delay]
 */

/**
 * `resume`: a reconnect's subscribe reply; `recovered[symbol]` is true when every missed
 * update was replayed, false when a fresh snapshot follows instead.
 * @typedef {object} ResumeEvent
 * @property {string[]} symbols
 * @property {Record<string, boolean>} recovered
 */

/**
 * `gap`: updates of a subscribed symbol were lost; the stream goes on at `seq` in `epoch`.
 * `reason` is "not_recovered" (a resume the server could not replay) or the `resync`'s.
 * @typedef {object} GapEvent
 * @property {string} symbol
 * @property {number | null} lastSeq
 * @property {string | null} lastEpoch
 * @property {number} seq
 * @property {string | null} epoch
 * @property {string} reason
 */

/**
 * `rejected`: what the server refused to subscribe (dropped from the kept set), and why.
 * @typedef {{symbols: string[]} | {portfolioId: number}} RejectedTarget
 */

/**
 * @typedef {object} RttEvent
 * @property {number} rtt  this round trip, ms
 * @property {number} average  over the last 20
 */

/**
 * `warning`: a frame the client could not use.
 * @typedef {object} WarningEvent
 * @property {string} text
 * @property {"frame is not JSON" | "message has no type"} reason
 */

/**
 * The arguments each event's callbacks get: `(data, message)` for every server message
 * type, and the client's own events.
 * @typedef {{[T in ServerMessageType]: [data: ServerMessageDataMap[T], message: ServerMessage<T>]}
 *   & {
 *     message: [message: AnyServerMessage],
 *     frame: [frame: FrameEvent],
 *     state: [event: StateEvent],
 *     close: [event: CloseDetail],
 *     resume: [event: ResumeEvent],
 *     gap: [event: GapEvent],
 *     rejected: [target: RejectedTarget, error: Partial<ErrorData>],
 *     rtt: [event: RttEvent],
 *     warning: [event: WarningEvent],
 *   }} TickwireEventMap
 */

/**
 * The callback arguments of `event`; a message type this client does not know gets
 * `(data, message)` untyped.
 * @template {string} K
 * @typedef {K extends keyof TickwireEventMap ? TickwireEventMap[K]
 *   : [data: Record<string, unknown>, message: UnknownServerMessage]} EventArgs
 */

/**
 * A callback for `event`.
 * @template {string} K
 * @typedef {(...args: EventArgs<K>) => void} Listener
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
/** @type {Readonly<Required<Omit<TickwireOptions, "WebSocket" | "random" | "now">>>} */
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
   * @param {ServerErrorCode | "timeout" | "not_connected" | "closed"} code  the server's
   *   error code, or "timeout" / "not_connected" / "closed"
   * @param {string} message
   * @param {ServerMessage<"error">} [reply]  the server's error message, when there is one
   */
  constructor(code, message, reply) {
    super(message);
    this.name = "TickwireError";
    /** The server's error code, or "timeout" / "not_connected" / "closed". */
    this.code = code;
    /** The server's `error` message, when the server refused the request. */
    this.reply = reply;
  }
}

/**
 * The wait before reconnect attempt number `attempt` (0-based), in milliseconds:
 * `min(max, initial * factor^attempt)`, of which the `jitter` fraction is random.
 * @param {number} attempt
 * @param {BackoffOptions} [options]  the client's backoff options (defaults otherwise)
 * @param {() => number} [random]  random source in [0, 1)
 * @returns {number}
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const o = { ...DEFAULTS, ...options };
  const base = Math.min(o.backoffMax, o.backoffInitial * Math.pow(o.backoffFactor, attempt));
  const jitter = Math.min(Math.max(o.jitter, 0), 1);
  return Math.round(base * (1 - jitter) + base * jitter * random());
}

/**
 * A ws:// or wss:// URL for `path` on the page's own host (absolute URLs pass through).
 * @param {string} [path]
 * @param {{href: string}} [base]  the page's location
 * @returns {string}
 * @throws {TypeError} a relative path and no page location
 */
export function resolveUrl(path = DEFAULTS.url, base = globalThis.location) {
  if (/^wss?:\/\//i.test(path)) return path;
  if (!base) throw new TypeError("a relative WebSocket URL needs a page location");
  const url = new URL(path, base.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** @returns {number} */
function monotonicNow() {
  return typeof performance !== "undefined" && performance.now ? performance.now() : Date.now();
}

/**
 * @param {unknown} symbols
 * @returns {string[]}
 */
function normalizeSymbols(symbols) {
  const list = Array.isArray(symbols) ? symbols : [symbols];
  /** @type {string[]} */
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

/**
 * @param {any} id  anything: checked here
 * @returns {number}
 */
function portfolioKey(id) {
  const n = typeof id === "string" && /^\d+$/.test(id) ? Number(id) : id;
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new TypeError(`portfolio id must be a positive integer, got ${JSON.stringify(id)}`);
  }
  return n;
}

/**
 * One resilient connection to /ws/realtime/ (see the module's description above).
 */
export class TickwireClient {
  /**
   * @param {TickwireOptions} [options]  every option has a default (docs/js-client.md)
   * @throws {TypeError} an option has the wrong type or range
   */
  constructor(options = {}) {
    /** @type {ResolvedOptions} */
    const o = { ...DEFAULTS, ...options };
    for (const name of /** @type {const} */ (["backoffInitial", "backoffMax", "backoffFactor",
      "heartbeatInterval", "heartbeatTimeout", "requestTimeout", "stableAfter"])) {
      if (typeof o[name] !== "number" || !(o[name] >= 0)) {
        throw new TypeError(`option ${name} must be a non-negative number, got ${o[name]}`);
      }
    }
    if (!(o.maxRetries >= 0)) throw new TypeError("option maxRetries must be >= 0");
    /** The options in force (`reconnect` may be changed on a live client). */
    this.options = o;
    /** The absolute ws(s):// URL the client connects to. */
    this.url = resolveUrl(o.url);
    /** @private @type {WebSocketConstructor} */
    this._WebSocket = o.WebSocket || globalThis.WebSocket;
    if (typeof this._WebSocket !== "function") {
      throw new TypeError("no WebSocket implementation: pass options.WebSocket");
    }
    /** @private */
    this._random = o.random || Math.random;
    /** @private */
    this._now = o.now || monotonicNow;
    /** @private @type {Map<string, Set<(...args: any[]) => void>>} */
    this._listeners = new Map();
    /** @private @type {ConnectionState} */
    this._state = State.IDLE;
    /** @private @type {WebSocketLike | null} */
    this._socket = null;
    /** @private */
    this._attempt = 0;
    // One immediate reconnect after a 1012 (server restarting) per stable connection.
    /** @private */
    this._immediateLeft = true;
    /**
     * @private
     * @type {Record<"reconnect" | "heartbeat" | "stable", ReturnType<typeof setTimeout> | null>}
     */
    this._timers = { reconnect: null, heartbeat: null, stable: null };
    /** @private */
    this._nextId = 1;
    /**
     * @private
     * @type {Map<string | number | null, {type: string, resolve: (message: any) => void,
     *   reject: (error: TickwireError) => void, sentAt: number, heartbeat: boolean,
     *   symbols: string[] | null, timer: ReturnType<typeof setTimeout> | null}>}
     */
    this._pending = new Map(); // request id -> {type, resolve, reject, timer, sentAt, ...}
    /** @private @type {Set<string>} */
    this._symbols = new Set(); // what to keep subscribed, across reconnects
    /** @private @type {Set<number>} */
    this._portfolios = new Set();
    /** @private @type {Map<string, {seq: number, epoch: string | null}>} */
    this._positions = new Map(); // symbol -> {seq, epoch}: where to resume from
    /** @private @type {Map<string | number | undefined, string[]>} */
    this._refusals = new Map(); // request id -> symbols refused in a partial success
    /** @private @type {number[]} */
    this._rtts = [];
    /** @type {number | null} the last heartbeat's or ping's round trip, ms */
    this.rtt = null;
    /** @type {string | null} the server's id of this connection (from `connection`) */
    this.connectionId = null;
    /** Whether the connection is authenticated (session cookie, token or authenticate()). */
    this.authenticated = false;
    /** @type {number | null} the authenticated user's id */
    this.userId = null;
    /** @type {{code: number, reason: string} | null} the last close the server sent */
    this.lastClose = null;
    /** @private */
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

  /**
   * The last `{seq, epoch}` seen for `symbol`, or null: where a resume starts from.
   * @param {string} symbol
   * @returns {{seq: number, epoch: string | null} | null}
   */
  position(symbol) {
    const p = this._positions.get(String(symbol).toUpperCase());
    return p ? { ...p } : null;
  }

  /** Reconnect attempts since the last stable connection. */
  get attempt() {
    return this._attempt;
  }

  // -- events ----------------------------------------------------------------------------

  /**
   * Call `callback` on `event`; returns a function that removes it.
   *
   * `event` is a server message type (`"asset_update"`, `"portfolio_update"`, ...: the
   * callback gets `(data, message)`) or one of the client's events (`"state"`, `"close"`,
   * `"gap"`, ...: see {@link TickwireEventMap}). A type this client does not know is
   * emitted the same way, untyped.
   * @template {string} K
   * @param {K} event
   * @param {Listener<K>} callback
   * @returns {() => void}
   * @throws {TypeError} callback is not a function
   */
  on(event, callback) {
    if (typeof callback !== "function") throw new TypeError("callback must be a function");
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    /** @type {Set<(...args: any[]) => void>} */ (this._listeners.get(event)).add(callback);
    return () => this.off(event, callback);
  }

  /**
   * Remove a callback added with on().
   * @template {string} K
   * @param {K} event
   * @param {Listener<K>} callback
   */
  off(event, callback) {
    const set = this._listeners.get(event);
    if (set) set.delete(callback);
  }

  /**
   * Like on(), for the next event only.
   * @template {string} K
   * @param {K} event
   * @param {Listener<K>} callback
   * @returns {() => void}
   */
  once(event, callback) {
    const off = this.on(event, (...args) => {
      off();
      callback(...args);
    });
    return off;
  }

  /**
   * @private
   * @param {string} event
   * @param {...unknown} args
   */
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

  /**
   * @private
   * @param {ConnectionState} state
   * @param {{code?: number, reason?: string, delay?: number}} [detail]
   */
  _setState(state, detail = {}) {
    const previous = this._state;
    if (previous === state && !("delay" in detail)) return;
    this._state = state;
    this._emit("state", { state, previous, attempt: this._attempt, ...detail });
  }

  // -- connection ------------------------------------------------------------------------

  /**
   * Open the connection (no-op while open or connecting).
   * @returns {this}
   */
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
    } catch (/** @type {any} */ err) {
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

  /**
   * @private
   * @returns {WebSocketLike | null}
   */
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

  /**
   * @private
   * @param {WebSocketLike} socket
   */
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

  /**
   * @private
   * @param {WebSocketLike} socket
   * @param {number} code
   * @param {string} reason
   */
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

  /**
   * @private
   * @param {number} code
   * @param {string} reason
   */
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

  /** @private */
  _retryNow() {
    this._clearTimer("reconnect");
    this.connect();
  }

  /**
   * @private
   * @param {"reconnect" | "heartbeat" | "stable"} name
   */
  _clearTimer(name) {
    const timer = this._timers[name];
    if (timer !== null) {
      clearTimeout(timer);
      clearInterval(timer);
      this._timers[name] = null;
    }
  }

  // -- heartbeat -------------------------------------------------------------------------

  /** @private */
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
        this.ping(/** @type {PingOptions} */ ({ heartbeat: true })).catch(() => {});
      }
    }, heartbeatInterval);
  }

  /**
   * Give up on a connection that stopped answering, without waiting for its close.
   * @private
   * @param {number} code
   * @param {string} reason
   */
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
   * @param {PingOptions} [options]
   * @returns {Promise<number>}
   * @throws {TickwireError} (rejection) not connected, closed, or no pong in time
   */
  ping(options = {}) {
    const timeout = options.timeout ?? this.options.heartbeatTimeout;
    const heartbeat = Boolean(/** @type {{heartbeat?: boolean}} */ (options).heartbeat);
    // Heartbeat ids start with "hb" so logs (like the test console's) can tell them apart.
    const id = heartbeat ? `hb${this._nextId++}` : undefined;
    return this.request("ping", {}, /** @type {RequestOptions} */ ({ timeout, heartbeat, id })).then(
      (reply) => reply.rtt,
    );
  }

  /**
   * @private
   * @param {number} rtt
   */
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
   * @param {string} type
   * @param {object} [data]
   * @param {{id?: string | number}} [options]
   * @returns {string | number}
   * @throws {TickwireError} code "not_connected" while the socket is not open
   * @throws {TypeError} type is not a non-empty string
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
   * @param {string} text
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
   * @template {string} T
   * @param {T} type  a request type (docs/protocol.md): "ping", "subscribe_asset", ...
   * @param {object} [data]
   * @param {RequestOptions} [options]
   * @returns {Promise<ReplyTo<T>>} the reply message (for pongs, with `rtt` added)
   */
  request(type, data = {}, options = {}) {
    return /** @type {Promise<ReplyTo<T>>} */ (this._request(type, data, options).promise);
  }

  /**
   * @private
   * @param {string} type
   * @param {object} data
   * @param {RequestOptions & {heartbeat?: boolean, symbols?: string[]}} options
   * @returns {{id: string | number | null, promise: Promise<any>}}
   */
  _request(type, data, options) {
    const timeout = options.timeout ?? this.options.requestTimeout;
    /** @type {string | number | null} */
    let id = null;
    const promise = new Promise((resolve, reject) => {
      try {
        id = this.send(type, data, options);
      } catch (err) {
        reject(err);
        return;
      }
      /** @type {ReturnType<TickwireClient["_pending"]["get"]> & {}} */
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

  /**
   * @private
   * @param {"closed"} code
   * @param {string} message
   */
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
   * @param {string | string[]} symbols
   * @returns {Promise<ServerMessage<"subscribed">> | null}
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

  /**
   * Stop asset updates for `symbols` and forget their resume points. Returns the request's
   * promise (null on failure) when connected and subscribed, else null.
   * @param {string | string[]} symbols
   * @returns {Promise<ServerMessage<"unsubscribed"> | null> | null}
   * @throws {TypeError} a symbol is not a non-empty string
   */
  unsubscribe(symbols) {
    const list = normalizeSymbols(symbols).filter((s) => this._symbols.has(s));
    for (const s of list) {
      this._symbols.delete(s);
      this._positions.delete(s);
    }
    if (!this.isOpen || !list.length) return null;
    return this.request("unsubscribe_asset", { symbols: list }).catch(() => null);
  }

  /**
   * Subscribe to a portfolio's live value (owner only, logged in); kept across reconnects.
   * Returns the request's promise when connected, or null when it will be sent on connect
   * (or is already subscribed). A refusal is reported with a "rejected" event.
   * @param {number | string} portfolioId  a positive integer (or its digits)
   * @returns {Promise<ServerMessage<"subscribed">> | null}
   * @throws {TypeError} not a positive integer
   */
  subscribePortfolio(portfolioId) {
    const id = portfolioKey(portfolioId);
    if (this._portfolios.has(id)) return null;
    this._portfolios.add(id);
    if (!this.isOpen) return null;
    return this._subscribePortfolio(id);
  }

  /**
   * Stop a portfolio's updates. Returns the request's promise (null on failure) when
   * connected and subscribed, else null.
   * @param {number | string} portfolioId
   * @returns {Promise<ServerMessage<"unsubscribed"> | null> | null}
   * @throws {TypeError} not a positive integer
   */
  unsubscribePortfolio(portfolioId) {
    const id = portfolioKey(portfolioId);
    if (!this._portfolios.delete(id) || !this.isOpen) return null;
    return this.request("unsubscribe_portfolio", { portfolio_id: id }).catch(() => null);
  }

  /**
   * Authenticate this connection with an API token (`POST /api/auth/token/`). Resolves
   * with the `authenticated` reply; rejects with code "authentication_failed".
   * @param {string} token
   * @returns {Promise<ServerMessage<"authenticated">>}
   */
  authenticate(token) {
    return this.request("authenticate", { token });
  }

  /**
   * Connection options, e.g. `{batch: true}`. Resolves with the `configured` reply.
   * @param {{batch?: boolean}} options
   * @returns {Promise<ServerMessage<"configured">>}
   */
  configure(options) {
    return this.request("configure", options);
  }

  /**
   * @private
   * @param {string[]} symbols
   * @param {Record<string, number>} since
   * @param {string | undefined} epoch
   * @returns {Promise<ServerMessage<"subscribed">>}
   */
  _subscribeAssets(symbols, since, epoch) {
    /** @type {{symbols: string[], since?: Record<string, number>, epoch?: string}} */
    const data = { symbols };
    if (Object.keys(since).length) data.since = since;
    if (epoch) data.epoch = epoch;
    return this._request("subscribe_asset", data, { symbols }).promise;
  }

  /**
   * @private
   * @param {number} id
   */
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
   * @private
   * @param {string[]} requested
   * @param {any} reply  the `subscribed` reply (null with an error)
   * @param {any} error  the `error` reply (null with a reply)
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

  /**
   * @private
   * @param {boolean} resumed
   */
  _resubscribe(resumed) {
    /** @type {string[]} */
    const plain = [];
    /** @type {Map<string, Record<string, number>>} */
    const byEpoch = new Map();
    for (const symbol of this._symbols) {
      const pos = resumed ? this._positions.get(symbol) : null;
      if (pos && pos.epoch) {
        if (!byEpoch.has(pos.epoch)) byEpoch.set(pos.epoch, {});
        /** @type {Record<string, number>} */ (byEpoch.get(pos.epoch))[symbol] = pos.seq;
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

  // What arrives is unchecked JSON: the receiving side reads it as `any` and checks each
  // field it uses before trusting it.

  /**
   * @private
   * @param {WebSocketLike} socket
   * @param {unknown} text
   */
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

  /**
   * @private
   * @param {any} message  an object with a string `type`
   */
  _handleMessage(message) {
    /** @type {any} */
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

  /**
   * @private
   * @param {any} data  a `subscribed` reply's data
   */
  _noteStreams(data) {
    /** @type {Record<string, any>} */
    const streams = data.streams && typeof data.streams === "object" ? data.streams : {};
    /** @type {Record<string, boolean>} */
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

  /**
   * @private
   * @param {any} data  a `resync` message's data
   */
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

  /**
   * @private
   * @param {string} symbol
   * @param {{seq: number, epoch: string | null} | null | undefined} last
   * @param {{seq: number, epoch: string | null}} next
   * @param {string} reason
   */
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

  /**
   * @private
   * @param {unknown} symbol
   * @param {any} seq
   */
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

/**
 * A new client, connected: `Tickwire.connect({url})`.
 * @param {TickwireOptions} [options]
 * @returns {TickwireClient}
 */
export function connect(options) {
  return new TickwireClient(options).connect();
}

// For plain pages without modules of their own: window.Tickwire.TickwireClient.
if (typeof globalThis !== "undefined") {
  /** @type {any} */ (globalThis).Tickwire = Object.freeze({
    TickwireClient,
    TickwireError,
    State,
    CloseCode,
    backoffDelay,
    resolveUrl,
    connect,
  });
}
