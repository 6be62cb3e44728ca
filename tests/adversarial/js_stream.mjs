// Runs the browser client (tickwire/static/tickwire/tickwire-client.js) under Node against
// a real server and prints what it delivers, one JSON object per line, for
// tests/adversarial/clients.py. Usage: node js_stream.mjs <url> <SYMBOL,SYMBOL,...>
// Ends when its standard input closes (or when it is signalled by its pid).
// The file the browser loads, imported as the ES module it is (Node >= 20.19 / 22.12).
import { TickwireClient } from "../../tickwire/static/tickwire/tickwire-client.js";

// Node 20's WebSocket reports a refused connection with an "error" event, then neither a
// "close" nor a change of readyState; a browser follows the error with close 1006, which is
// what the client waits for before it schedules the next attempt. Give it the browser's
// behaviour, so a server restart is retried here as it is in a page.
class BrowserWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    this.addEventListener("error", () => {
      setTimeout(() => {
        if (this.readyState === WebSocket.CONNECTING && this.onclose) {
          this.onclose({ code: 1006, reason: "", wasClean: false });
        }
      }, 50);
    });
  }
}

const [url, symbols] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const client = new TickwireClient({
  url,
  WebSocket: BrowserWebSocket,
  heartbeatInterval: 1000,
  heartbeatTimeout: 3000,
  backoffInitial: 200,
  backoffMax: 2000,
  stableAfter: 1000,
});
client.on("asset_update", (data, message) => {
  const pos = client.position(data.symbol);
  out({ e: "update", symbol: data.symbol, seq: message.seq, epoch: pos ? pos.epoch : null });
});
client.on("resync", (data) => out({ e: "resync", symbol: data.symbol, seq: data.seq, epoch: data.epoch }));
client.on("gap", (gap) => out({ e: "gap", ...gap }));
client.on("state", (s) => out({ e: "state", state: s.state, code: s.code ?? null }));
client.on("warning", (w) => out({ e: "warning", reason: w.reason }));
client.connect();
client.subscribe(symbols.split(","));

process.stdin.resume();
process.stdin.on("end", () => {
  client.close();
  process.exit(0);
});
