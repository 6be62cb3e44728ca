// Unit tests of tickwire/static/tickwire/tickwire-client.js with a fake WebSocket and
// mocked timers: `node --test tests/static/` (run by tests/static/test_js_client.py).
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import assert from "node:assert/strict";

// The file the browser loads, imported as the ES module it is (Node >= 20.19 / 22.12 sees
// its `export`s; the npm package in clients/js/ ships the same file with "type": "module").
import {
  TickwireClient,
  TickwireError,
  State,
  CloseCode,
  backoffDelay,
  resolveUrl,
} from "../../tickwire/static/tickwire/tickwire-client.js";

// A manual clock for round trips; timers are mocked. (Mocking Date needs Node >= 20.11.)
let clock = 0;
function advance(ms) {
  for (let left = ms; left > 0; left -= Math.min(left, 100)) {
    clock += Math.min(left, 100);
    mock.timers.tick(Math.min(left, 100));
  }
}

class FakeWebSocket {
  static instances = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.instances.push(this);
  }

  send(text) {
    if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
    this.sent.push(text);
  }

  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  // -- test helpers: what the server and the network do --
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(message) {
    this.onmessage?.({ data: typeof message === "string" ? message : JSON.stringify(message) });
  }

  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  messages() {
    return this.sent.map((t) => JSON.parse(t));
  }

  last(type) {
    const all = this.messages().filter((m) => m.type === type);
    return all[all.length - 1];
  }
}

const URL_ = "ws://127.0.0.1:8000/ws/realtime/";

function makeClient(options = {}) {
  return new TickwireClient({
    url: URL_,
    WebSocket: FakeWebSocket,
    random: () => 1, // the longest delay of each range: deterministic
    heartbeatInterval: 0,
    now: () => clock,
    ...options,
  });
}

function sock(n = -1) {
  const all = FakeWebSocket.instances;
  return all[n < 0 ? all.length + n : n];
}

function welcome(ws) {
  ws.open();
  ws.receive({
    type: "connection",
    data: { status: "connected", connection_id: "conn-1", authenticated: false, user_id: null },
  });
}

function reply(ws, request, type, data, extra = {}) {
  ws.receive({ type, data, timestamp: "2026-01-01T00:00:00.000Z", id: request.id, ...extra });
}

function update(ws, symbol, price, seq) {
  ws.receive({ type: "asset_update", data: { symbol, price }, seq, timestamp: "2026-01-01T00:00:01.000Z" });
}

beforeEach(() => {
  FakeWebSocket.instances = [];
  clock = 0;
  mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
});

afterEach(() => {
  mock.timers.reset();
});

describe("backoffDelay", () => {
  test("grows by the factor, is capped, and jitter takes up to its fraction off", () => {
    const opts = { backoffInitial: 500, backoffMax: 15000, backoffFactor: 2, jitter: 0.5 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, opts, () => 1)),
      [500, 1000, 2000, 4000, 8000, 15000, 15000],
    );
    assert.equal(backoffDelay(3, opts, () => 0), 2000);
    assert.equal(backoffDelay(3, { ...opts, jitter: 0 }, () => 0), 4000);
  });
});

describe("resolveUrl", () => {
  test("a path becomes ws:// or wss:// on the page's host", () => {
    assert.equal(resolveUrl("/ws/realtime/", { href: "http://example.test:8000/x" }), "ws://example.test:8000/ws/realtime/");
    assert.equal(resolveUrl("/ws/realtime/", { href: "https://example.test/" }), "wss://example.test/ws/realtime/");
    assert.equal(resolveUrl("wss://other.test/ws/"), "wss://other.test/ws/");
  });

  test("a relative URL without a page is a TypeError", () => {
    assert.throws(() => resolveUrl("/ws/realtime/", undefined), TypeError);
  });
});

describe("options", () => {
  test("bad numbers are refused with the option's name", () => {
    assert.throws(() => makeClient({ heartbeatInterval: -1 }), /heartbeatInterval/);
    assert.throws(() => makeClient({ backoffMax: "x" }), /backoffMax/);
  });
});

describe("connecting and subscribing", () => {
  test("symbols subscribed before connect are sent in one request once open", () => {
    const client = makeClient();
    const states = [];
    client.on("state", (e) => states.push(e.state));
    client.subscribe(["aapl", "MSFT"]);
    client.subscribe("AAPL");
    client.connect();
    assert.equal(sock().url, URL_);
    welcome(sock());
    const subs = sock().messages().filter((m) => m.type === "subscribe_asset");
    assert.equal(subs.length, 1);
    assert.deepEqual(subs[0].data, { symbols: ["AAPL", "MSFT"] });
    assert.ok(subs[0].id && subs[0].timestamp);
    assert.deepEqual(states, ["connecting", "open"]);
    assert.equal(client.connectionId, "conn-1");
  });

  test("invalid symbols are a TypeError", () => {
    const client = makeClient();
    assert.throws(() => client.subscribe(""), TypeError);
    assert.throws(() => client.subscribe([42]), TypeError);
    assert.throws(() => client.subscribePortfolio(-3), TypeError);
  });

  test("updates go to listeners of their type and the seq is remembered", () => {
    const client = makeClient().connect();
    welcome(sock());
    client.subscribe("AAPL");
    const req = sock().last("subscribe_asset");
    reply(sock(), req, "subscribed", { symbols: ["AAPL"], streams: { AAPL: { seq: 3, epoch: "e1" } }, subscription_count: 1 });
    const prices = [];
    client.on("asset_update", (data, msg) => prices.push([data.price, msg.seq]));
    update(sock(), "AAPL", 101, 4);
    update(sock(), "AAPL", 102, 5);
    assert.deepEqual(prices, [[101, 4], [102, 5]]);
    assert.deepEqual(client.position("AAPL"), { seq: 5, epoch: "e1" });
  });

  test("a batched frame (JSON array) is split into messages", () => {
    const client = makeClient().connect();
    welcome(sock());
    const seen = [];
    client.on("asset_update", (d) => seen.push(d.symbol));
    sock().receive([
      { type: "asset_update", data: { symbol: "AAPL", price: 1 }, seq: 1 },
      { type: "asset_update", data: { symbol: "MSFT", price: 2 }, seq: 1 },
    ]);
    assert.deepEqual(seen, ["AAPL", "MSFT"]);
  });

  test("an alert, and a type the client does not know, reach listeners of their name", () => {
    const client = makeClient().connect();
    welcome(sock());
    const alerts = [];
    const others = [];
    client.on("alert", (data, msg) => alerts.push([data.rule_id, data.message, msg.seq]));
    client.on("something_new", (data) => others.push(data.n));
    sock().receive({ type: "alert", data: { rule_id: 7, message: "AAPL at 201 is above 200" }, timestamp: "2026-01-01T00:00:02.000Z" });
    sock().receive({ type: "something_new", data: { n: 1 } });
    assert.deepEqual(alerts, [[7, "AAPL at 201 is above 200", undefined]]);
    assert.deepEqual(others, [1]);
    assert.equal(client.state, State.OPEN);
  });

  test("a frame that is not JSON is a warning, not a crash", () => {
    const client = makeClient().connect();
    welcome(sock());
    const warnings = [];
    client.on("warning", (w) => warnings.push(w.reason));
    sock().receive("{not json");
    sock().receive('{"data": {}}');
    assert.deepEqual(warnings, ["frame is not JSON", "message has no type"]);
    assert.equal(client.state, State.OPEN);
  });

  test("every frame, both ways, is reported raw with its time", () => {
    const client = makeClient().connect();
    const frames = [];
    client.on("frame", (f) => frames.push([f.direction, f.text, f.time instanceof Date]));
    welcome(sock());
    client.sendRaw('{"type":"ping"}');
    assert.equal(frames.length, 2);
    assert.equal(frames[0][0], "in");
    assert.deepEqual(frames[1], ["out", '{"type":"ping"}', true]);
  });
});

describe("requests", () => {
  test("send() while disconnected throws not_connected", () => {
    const client = makeClient();
    assert.throws(() => client.send("ping"), (e) => e instanceof TickwireError && e.code === "not_connected");
  });

  test("an error reply rejects the request with the server's code", async () => {
    const client = makeClient().connect();
    welcome(sock());
    const pending = client.authenticate("bad");
    const req = sock().last("authenticate");
    reply(sock(), req, "error", { code: "authentication_failed", message: "invalid token" });
    await assert.rejects(pending, (e) => e.code === "authentication_failed" && e.reply.type === "error");
  });

  test("a request with no reply times out", async () => {
    const client = makeClient({ requestTimeout: 1000 }).connect();
    welcome(sock());
    const pending = client.configure({ batch: true });
    advance(1000);
    await assert.rejects(pending, (e) => e.code === "timeout");
  });

  test("ping resolves with the round trip and emits rtt", async () => {
    const client = makeClient().connect();
    welcome(sock());
    const rtts = [];
    client.on("rtt", (e) => rtts.push(e));
    const pending = client.ping();
    reply(sock(), sock().last("ping"), "pong", {});
    const rtt = await pending;
    assert.ok(rtt >= 0);
    assert.equal(rtts.length, 1);
    assert.equal(client.rtt, rtt);
  });
});

describe("refused subscriptions", () => {
  test("unknown symbols in a partial success are dropped and reported with the reason", () => {
    const client = makeClient().connect();
    welcome(sock());
    const rejected = [];
    client.on("rejected", (what, why) => rejected.push([what, why.code]));
    client.subscribe(["AAPL", "NOPE"]);
    const req = sock().last("subscribe_asset");
    // The server answers the known part, then an error with the same id.
    sock().receive([
      { type: "subscribed", data: { symbols: ["AAPL"], streams: { AAPL: { seq: 1, epoch: "e" } } }, id: req.id },
      { type: "error", data: { code: "unknown_symbol", message: "unknown symbol: NOPE", request_type: "subscribe_asset" }, id: req.id },
    ]);
    assert.deepEqual(rejected, [[{ symbols: ["NOPE"] }, "unknown_symbol"]]);
    assert.deepEqual(client.symbols, ["AAPL"]);
  });

  test("a refused request drops all its symbols; a refused portfolio is dropped too", async () => {
    const client = makeClient().connect();
    welcome(sock());
    const rejected = [];
    client.on("rejected", (what, why) => rejected.push([what, why.code]));
    client.subscribe(["X1", "X2"]);
    reply(sock(), sock().last("subscribe_asset"), "error", { code: "subscription_limit", message: "limit" });
    client.subscribePortfolio(7);
    reply(sock(), sock().last("subscribe_portfolio"), "error", { code: "authentication_required", message: "log in" });
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(rejected, [
      [{ symbols: ["X1", "X2"] }, "subscription_limit"],
      [{ portfolioId: 7 }, "authentication_required"],
    ]);
    assert.deepEqual(client.symbols, []);
    assert.deepEqual(client.portfolios, []);
  });
});

describe("reconnect and resume", () => {
  test("after a drop it reconnects with backoff and resumes each symbol from its seq", () => {
    const client = makeClient({ backoffInitial: 500 }).connect();
    welcome(sock());
    client.subscribe(["AAPL", "MSFT"]);
    client.subscribePortfolio(12);
    const req = sock().last("subscribe_asset");
    reply(sock(), req, "subscribed", {
      symbols: ["AAPL", "MSFT"],
      streams: { AAPL: { seq: 10, epoch: "e1" }, MSFT: { seq: 4, epoch: "e1" } },
    });
    update(sock(), "AAPL", 1, 11);
    update(sock(), "AAPL", 2, 12);
    const closes = [];
    client.on("close", (e) => closes.push(e));
    sock().drop(CloseCode.GOING_AWAY, "server shutting down");
    assert.equal(client.state, State.RECONNECTING);
    assert.deepEqual(closes, [{ code: 1001, reason: "server shutting down", willReconnect: true, delay: 500 }]);
    advance(499);
    assert.equal(FakeWebSocket.instances.length, 1);
    advance(1);
    assert.equal(FakeWebSocket.instances.length, 2);
    welcome(sock());
    const resume = sock().last("subscribe_asset");
    assert.deepEqual(resume.data, { symbols: ["AAPL", "MSFT"], since: { AAPL: 12, MSFT: 4 }, epoch: "e1" });
    assert.deepEqual(sock().last("subscribe_portfolio").data, { portfolio_id: 12 });
  });

  test("a node draining for a restart (1012) is reconnected to at once, and resumed", () => {
    const client = makeClient({ backoffInitial: 500 }).connect();
    welcome(sock());
    client.subscribe(["AAPL"]);
    reply(sock(), sock().last("subscribe_asset"), "subscribed", {
      symbols: ["AAPL"],
      streams: { AAPL: { seq: 10, epoch: "e1" } },
    });
    update(sock(), "AAPL", 1, 11);
    const closes = [];
    client.on("close", (e) => closes.push(e));
    sock().drop(CloseCode.SERVICE_RESTART, "server restarting");
    assert.equal(CloseCode.SERVICE_RESTART, 1012);
    assert.deepEqual(closes, [{ code: 1012, reason: "server restarting", willReconnect: true, delay: 0 }]);
    advance(1); // the next timer turn: no backoff wait
    assert.equal(FakeWebSocket.instances.length, 2);
    welcome(sock());
    assert.deepEqual(sock().last("subscribe_asset").data, { symbols: ["AAPL"], since: { AAPL: 11 }, epoch: "e1" });
    // Drained again before the connection was stable: this time the backoff applies.
    sock().drop(CloseCode.SERVICE_RESTART, "server restarting");
    assert.equal(closes[1].delay, 500);
    advance(499);
    assert.equal(FakeWebSocket.instances.length, 2);
    advance(1);
    assert.equal(FakeWebSocket.instances.length, 3);
  });

  test("symbols from different epochs are resumed in separate requests", () => {
    const client = makeClient().connect();
    welcome(sock());
    client.subscribe(["A", "B"]);
    reply(sock(), sock().last("subscribe_asset"), "subscribed", {
      symbols: ["A", "B"],
      streams: { A: { seq: 5, epoch: "x" }, B: { seq: 9, epoch: "y" } },
    });
    sock().drop(1006);
    advance(10_000);
    welcome(sock());
    const subs = sock().messages().filter((m) => m.type === "subscribe_asset").map((m) => m.data);
    assert.deepEqual(subs, [
      { symbols: ["A"], since: { A: 5 }, epoch: "x" },
      { symbols: ["B"], since: { B: 9 }, epoch: "y" },
    ]);
  });

  test("resume reports recovered per symbol; a lost history restarts at the new epoch", () => {
    const client = makeClient().connect();
    welcome(sock());
    client.subscribe(["A", "B"]);
    reply(sock(), sock().last("subscribe_asset"), "subscribed", {
      symbols: ["A", "B"],
      streams: { A: { seq: 5, epoch: "e1" }, B: { seq: 5, epoch: "e1" } },
    });
    sock().drop(1006);
    advance(10_000);
    welcome(sock());
    const resumes = [];
    client.on("resume", (e) => resumes.push(e));
    reply(sock(), sock().last("subscribe_asset"), "subscribed", {
      symbols: ["A", "B"],
      streams: { A: { seq: 8, epoch: "e1", recovered: true }, B: { seq: 2, epoch: "e2", recovered: false } },
    });
    // Replayed updates for A follow the reply and move its position on.
    update(sock(), "A", 1, 6);
    update(sock(), "A", 1, 7);
    assert.deepEqual(resumes, [{ symbols: ["A", "B"], recovered: { A: true, B: false } }]);
    assert.deepEqual(client.position("A"), { seq: 7, epoch: "e1" });
    assert.deepEqual(client.position("B"), { seq: 2, epoch: "e2" });
  });

  test("a resync adopts the new epoch and seq, is reported as a gap, and resumes there", () => {
    const client = makeClient().connect();
    welcome(sock());
    client.subscribe(["AAPL"]);
    reply(sock(), sock().last("subscribe_asset"), "subscribed", {
      symbols: ["AAPL"],
      streams: { AAPL: { seq: 5, epoch: "e1" } },
    });
    update(sock(), "AAPL", 100, 5);
    update(sock(), "AAPL", 101, 6);
    update(sock(), "AAPL", 102, 7);
    const gaps = [];
    const prices = [];
    client.on("gap", (gap) => gaps.push(gap));
    client.on("asset_update", (data) => prices.push(data.price));
    // Redis lost the channel: a snapshot and updates follow whose seqs restart at 1.
    sock().receive({
      type: "resync",
      data: { channel: "asset.AAPL", symbol: "AAPL", seq: 1, epoch: "e2", recovered: false, reason: "epoch_changed" },
    });
    update(sock(), "AAPL", 200, 1);
    update(sock(), "AAPL", 201, 2);
    update(sock(), "AAPL", 202, 3);
    assert.deepEqual(prices, [200, 201, 202]);
    assert.deepEqual(client.position("AAPL"), { seq: 3, epoch: "e2" });
    assert.deepEqual(gaps, [
      { symbol: "AAPL", lastSeq: 7, lastEpoch: "e1", seq: 1, epoch: "e2", reason: "epoch_changed" },
    ]);
    // The next resume names the new epoch, so the server can replay what was missed.
    sock().drop(1006);
    advance(10_000);
    welcome(sock());
    assert.deepEqual(sock().last("subscribe_asset").data, {
      symbols: ["AAPL"], since: { AAPL: 3 }, epoch: "e2",
    });
  });

  test("a resync before its snapshot arrives resumes from just before the snapshot", () => {
    const client = makeClient().connect();
    welcome(sock());
    client.subscribe(["AAPL"]);
    reply(sock(), sock().last("subscribe_asset"), "subscribed", {
      symbols: ["AAPL"],
      streams: { AAPL: { seq: 5, epoch: "e1" } },
    });
    sock().receive({
      type: "resync",
      data: { channel: "asset.AAPL", symbol: "AAPL", seq: 4, epoch: "e2", recovered: false, reason: "history_lost" },
    });
    assert.deepEqual(client.position("AAPL"), { seq: 3, epoch: "e2" });
  });

  test("an unrecovered resume is reported as a gap too", () => {
    const client = makeClient().connect();
    welcome(sock());
    client.subscribe(["A"]);
    reply(sock(), sock().last("subscribe_asset"), "subscribed", {
      symbols: ["A"],
      streams: { A: { seq: 5, epoch: "e1" } },
    });
    sock().drop(1006);
    advance(10_000);
    welcome(sock());
    const gaps = [];
    client.on("gap", (gap) => gaps.push(gap));
    reply(sock(), sock().last("subscribe_asset"), "subscribed", {
      symbols: ["A"],
      streams: { A: { seq: 2, epoch: "e2", recovered: false } },
    });
    assert.deepEqual(gaps, [
      { symbol: "A", lastSeq: 5, lastEpoch: "e1", seq: 2, epoch: "e2", reason: "not_recovered" },
    ]);
  });

  test("the backoff grows while connections fail and starts over after a stable one", () => {
    const client = makeClient({ backoffInitial: 100, stableAfter: 5000 }).connect();
    const delays = [];
    client.on("close", (e) => delays.push(e.delay));
    for (let i = 0; i < 3; i++) {
      sock().drop(1006);
      advance(100_000);
    }
    assert.deepEqual(delays, [100, 200, 400]);
    welcome(sock());
    advance(5000);
    sock().drop(1006);
    assert.equal(delays[3], 100);
  });

  test("unsubscribed symbols are not resumed", () => {
    const client = makeClient().connect();
    welcome(sock());
    client.subscribe(["A", "B"]);
    reply(sock(), sock().last("subscribe_asset"), "subscribed", {
      symbols: ["A", "B"],
      streams: { A: { seq: 1, epoch: "e" }, B: { seq: 1, epoch: "e" } },
    });
    client.unsubscribe("b");
    assert.deepEqual(sock().last("unsubscribe_asset").data, { symbols: ["B"] });
    sock().drop(1006);
    advance(10_000);
    welcome(sock());
    assert.deepEqual(sock().last("subscribe_asset").data.symbols, ["A"]);
  });

  test("reconnect() drops the socket and resumes at once", () => {
    const client = makeClient().connect();
    welcome(sock());
    client.subscribe("A");
    reply(sock(), sock().last("subscribe_asset"), "subscribed", { symbols: ["A"], streams: { A: { seq: 3, epoch: "e" } } });
    const first = sock();
    client.reconnect();
    assert.equal(first.closedWith.code, 1000);
    assert.equal(FakeWebSocket.instances.length, 2);
    welcome(sock());
    assert.deepEqual(sock().last("subscribe_asset").data, { symbols: ["A"], since: { A: 3 }, epoch: "e" });
  });
});

describe("closes that must not reconnect", () => {
  test("4003 session ended: state session_ended and no new connection", () => {
    const client = makeClient().connect();
    welcome(sock());
    const closes = [];
    client.on("close", (e) => closes.push(e));
    sock().drop(CloseCode.SESSION_ENDED, "logged out");
    advance(60_000);
    assert.equal(client.state, State.SESSION_ENDED);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(closes[0].willReconnect, false);
  });

  for (const code of [1008, 1009]) {
    test(`${code} policy close: state closed and no new connection`, () => {
      const client = makeClient().connect();
      welcome(sock());
      sock().drop(code, "policy");
      advance(60_000);
      assert.equal(client.state, State.CLOSED);
      assert.equal(FakeWebSocket.instances.length, 1);
    });
  }

  test("close() stops for good but keeps subscriptions for the next connect()", () => {
    const client = makeClient().connect();
    welcome(sock());
    client.subscribe("A");
    client.close();
    assert.equal(sock().closedWith.code, 1000);
    advance(60_000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(client.state, State.CLOSED);
    client.connect();
    welcome(sock());
    assert.deepEqual(sock().last("subscribe_asset").data, { symbols: ["A"] });
  });

  test("maxRetries gives up with state closed", () => {
    const client = makeClient({ maxRetries: 2 }).connect();
    for (let i = 0; i < 3; i++) {
      sock().drop(1006);
      advance(100_000);
    }
    assert.equal(client.state, State.CLOSED);
    assert.equal(FakeWebSocket.instances.length, 3);
  });
});

describe("heartbeat", () => {
  test("pings every interval, and a missing pong reconnects", () => {
    const client = makeClient({ heartbeatInterval: 1000, heartbeatTimeout: 2500 }).connect();
    welcome(sock());
    advance(1000);
    const ping = sock().last("ping");
    assert.ok(ping, "a ping after one interval");
    assert.match(ping.id, /^hb\d+$/);
    reply(sock(), ping, "pong", {});
    assert.notEqual(client.rtt, null);
    advance(1000);
    const pings = sock().messages().filter((m) => m.type === "ping");
    assert.equal(pings.length, 2);
    // No pong for this one: after the timeout (checked each interval) the socket is given up.
    advance(3000);
    assert.equal(sock(0).closedWith.code, CloseCode.HEARTBEAT_TIMEOUT);
    assert.equal(client.state, State.RECONNECTING);
    advance(1000);
    assert.equal(FakeWebSocket.instances.length, 2);
  });

  test("only one heartbeat ping is outstanding at a time", () => {
    const client = makeClient({ heartbeatInterval: 1000, heartbeatTimeout: 10_000 }).connect();
    welcome(sock());
    advance(5000);
    assert.equal(sock().messages().filter((m) => m.type === "ping").length, 1);
  });
});

describe("global", () => {
  test("the module also installs globalThis.Tickwire for plain pages", () => {
    assert.equal(globalThis.Tickwire.TickwireClient, TickwireClient);
    assert.equal(globalThis.Tickwire.State.OPEN, "open");
  });
});
