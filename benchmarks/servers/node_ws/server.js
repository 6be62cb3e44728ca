// The Node.js peer: the npm `ws` library's broadcast, as its README shows it.
//
// The same work as the raw (picows) peer in ../raw_server.py: answer the load generator's
// subscribe with `subscribed`, then per update encode one `asset_update` once and call
// `ws.send()` on every subscriber with that one buffer (ws builds each frame's header per
// send, as picows does). No outboxes, no slow-client policy, permessage-deflate off (the
// ws default for servers).
//
// The publisher and the stdin/stdout control channel follow benchmarks/control.py:
// `rate R` (updates/s, `0` stops, `max` = one update per event-loop turn, fanned out
// before the next), `stats` -> {"published": n}, `quit`; {"event": "ready"} once listening.
'use strict';

const readline = require('node:readline');
const { WebSocketServer } = require('ws');

// Shape of benchmarks/common.py: the same symbol and fields. JSON.stringify writes floats
// shorter than orjson (201 for 201.0), so the launcher passes the raw peer's message size
// (`--bytes`) and the padding makes this one as long.
const SYMBOL = 'AAPL';
const MESSAGE_BYTES = intOption(process.argv, '--bytes', 1, 1 << 20, 238);
const TIMESTAMP = '2024-01-15T10:30:00.000Z';
const SUBSCRIBED = Buffer.from('{"type":"subscribed","data":{}}');

function intOption(argv, name, min, max, fallback) {
  const i = argv.indexOf(name);
  if (i < 0 && fallback !== undefined) return fallback;
  const value = i >= 0 ? Number(argv[i + 1]) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    process.stderr.write(`server.js: ${name} must be an integer in ${min}..${max}\n`);
    process.exit(2);
  }
  return value;
}

function updateData(seq, pad) {
  // `ts` (publish time, epoch seconds) last: the client reads it without parsing.
  return {
    symbol: SYMBOL,
    price: 190.0 + (seq % 1000) / 100.0,
    change: 2.5,
    change_percent: 1.3333,
    volume: 50000000 + seq,
    high: 201.0,
    low: 189.5,
    previous_close: 187.5,
    currency: 'USD',
    pad,
    ts: (performance.timeOrigin + performance.now()) / 1000,
  };
}

function encode(seq, pad) {
  return Buffer.from(
    JSON.stringify({ type: 'asset_update', data: updateData(seq, pad), timestamp: TIMESTAMP, seq }),
  );
}

// The sample for seq 1 padded to MESSAGE_BYTES (the launcher's figure already holds
// common.padding_for's slack for larger seqs).
const PAD = 'x'.repeat(Math.max(0, MESSAGE_BYTES - encode(1, '').length));

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

const subscribers = new Set();

function publish(seq) {
  const frame = encode(seq, PAD);
  for (const ws of subscribers) ws.send(frame, { binary: false });
}

// benchmarks/control.py's Publisher: fixed rate with catch-up of at most 50 at once (the
// rest skipped, `published` counts what was really offered), or flat out.
class Publisher {
  constructor() {
    this.rate = 0;
    this.published = 0;
    this.generation = 0;
  }

  one() {
    this.published += 1;
    publish(this.published);
  }

  setRate(rate) {
    this.rate = rate;
    this.generation += 1;
    const gen = this.generation;
    if (rate < 0) {
      const loop = () => {
        if (this.generation !== gen) return;
        this.one();
        setImmediate(loop);
      };
      setImmediate(loop);
    } else if (rate > 0) {
      const start = performance.now() / 1000;
      let sent = 0;
      const tick = () => {
        if (this.generation !== gen) return;
        const due = Math.floor((performance.now() / 1000 - start) * rate) - sent;
        for (let i = 0; i < Math.min(due, 50); i++) this.one();
        if (due > 0) sent += due;
        const nextAt = start + (sent + 1) / rate;
        setTimeout(tick, Math.max(0, (nextAt - performance.now() / 1000) * 1000));
      };
      setImmediate(tick);
    }
  }
}

function main() {
  const port = intOption(process.argv, '--port', 1, 65535);
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port,
    backlog: 4096,
    clientTracking: false,
    perMessageDeflate: false,
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.includes('subscribe')) {
        subscribers.add(ws);
        ws.send(SUBSCRIBED, { binary: false });
      }
    });
    ws.on('close', () => subscribers.delete(ws));
    ws.on('error', () => subscribers.delete(ws));
  });
  wss.on('error', (err) => {
    process.stderr.write(`server.js: ${err.message}\n`);
    process.exit(1);
  });
  const publisher = new Publisher();
  const stop = () => {
    publisher.setRate(0);
    for (const ws of subscribers) ws.terminate();
    wss.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  wss.on('listening', () => {
    emit({ event: 'ready', pid: process.pid });
    const commands = readline.createInterface({ input: process.stdin });
    commands.on('line', (raw) => {
      const line = raw.trim();
      if (!line || line === 'quit') {
        stop();
        return;
      }
      const [cmd, arg] = line.split(' ', 2);
      if (cmd === 'rate' && (arg === 'max' || Number.isFinite(Number(arg)))) {
        publisher.setRate(arg === 'max' ? -1 : Number(arg));
        emit({ event: 'ok' });
      } else if (cmd === 'stats') {
        emit({ event: 'stats', published: publisher.published });
      } else {
        emit({ event: 'error', message: `unknown command '${line}'` });
      }
    });
    commands.on('close', stop);
  });
}

main();
