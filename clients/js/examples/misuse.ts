// Mistakes the declarations must catch. The package's tests compile this file and expect
// tsc to FAIL with exactly the errors marked `// error TSnnnn` on the line above each one
// (were the types `any`, it would compile).
import { State, TickwireClient } from "tickwire-client";

const client = new TickwireClient({ url: "ws://127.0.0.1:8000/ws/realtime/" });

// error TS2339: a price is a number, not a string
client.on("asset_update", (data) => data.price.toUpperCase());

// error TS2322: option values are numbers of milliseconds
new TickwireClient({ heartbeatInterval: "20s" });

// error TS2345: symbols are strings
client.subscribe(42);

// error TS2367: "connected" is not a state (the state is "open")
client.on("state", ({ state }) => state === "connected");

// error TS2339: portfolio updates have no `price`
client.on("portfolio_update", (data) => data.price);

// error TS2322: ping() resolves with a number of milliseconds
const rtt: Promise<string> = client.ping();

// error TS2540: the states are constants
State.OPEN = "closed";

// error TS2322: the WebSocket option needs the WebSocket shape (readyState, send, close...)
new TickwireClient({ WebSocket: Date });

export { rtt };
