// A typed use of tickwire-client: follow some symbols, keep the latest quote of each,
// report reconnects and lost updates, and measure the round trip. The package's tests
// type-check this file (`tsc --noEmit`) against the installed tarball's declarations.
import {
  CloseCode,
  State,
  TickwireClient,
  TickwireError,
  type AssetUpdateData,
  type GapEvent,
  type PortfolioUpdateData,
  type TickwireOptions,
  type WebSocketLike,
} from "tickwire-client";

export interface Quote {
  symbol: string;
  price: number;
  changePercent: number;
  currency: string;
  /** The channel's sequence number: 0 for a snapshot read before the feed's first tick. */
  seq: number | undefined;
}

export function quoteOf(data: AssetUpdateData, seq: number | undefined): Quote {
  return {
    symbol: data.symbol,
    price: data.price,
    changePercent: data.change_percent,
    currency: data.currency,
    seq,
  };
}

export interface Watch {
  client: TickwireClient;
  quotes: Map<string, Quote>;
  stop(): void;
}

/** Follow `symbols` at `url`; `onQuote` gets each update as it arrives. */
export function watch(
  url: string,
  symbols: string[],
  onQuote: (quote: Quote) => void,
  options: TickwireOptions = {},
): Watch {
  const client = new TickwireClient({ url, heartbeatInterval: 20_000, maxRetries: 10, ...options });
  const quotes = new Map<string, Quote>();

  client.on("asset_update", (data, message) => {
    const quote = quoteOf(data, message.seq);
    quotes.set(quote.symbol, quote);
    onQuote(quote);
  });
  client.on("state", ({ state, delay, code }) => {
    if (state === State.RECONNECTING) console.info(`reconnecting in ${delay ?? 0} ms (close ${code})`);
    if (state === State.SESSION_ENDED) console.warn("session ended: log in again");
  });
  client.on("close", ({ code, willReconnect }) => {
    if (code === CloseCode.SLOW_CONSUMER && willReconnect) console.warn("too slow; resuming");
  });
  client.on("gap", (gap: GapEvent) => {
    console.warn(`${gap.symbol}: updates after seq ${gap.lastSeq} lost (${gap.reason})`);
  });
  client.on("rejected", (target, error) => {
    const what = "symbols" in target ? target.symbols.join(", ") : `portfolio ${target.portfolioId}`;
    console.warn(`refused: ${what}: ${error.code} ${error.message}`);
  });
  // A message type newer than this client still arrives, untyped.
  client.on("market_status", (data) => console.info("market status", data));

  client.subscribe(symbols);
  client.connect();
  return { client, quotes, stop: () => client.close() };
}

/** A logged-in program's live portfolio total (null while a holding has no price). */
export async function followPortfolio(
  client: TickwireClient,
  token: string,
  portfolioId: number,
  onValue: (value: number | null, portfolio: PortfolioUpdateData) => void,
): Promise<void> {
  const reply = await client.authenticate(token);
  console.info(`authenticated as ${reply.data.username}`);
  client.on("portfolio_update", (data) => {
    if (data.portfolio_id === portfolioId) onValue(data.total_value, data);
  });
  client.subscribePortfolio(portfolioId);
}

/** The round trip in ms, or null when the server did not answer in time. */
export async function roundTrip(client: TickwireClient): Promise<number | null> {
  try {
    return await client.ping({ timeout: 5_000 });
  } catch (err) {
    if (err instanceof TickwireError && (err.code === "timeout" || err.code === "not_connected")) {
      return null;
    }
    throw err;
  }
}

/** Batch frames for a high-rate stream; the reply says what the server applied. */
export async function batched(client: TickwireClient): Promise<boolean> {
  const reply = await client.configure({ batch: true });
  return reply.data.batch;
}

/** The browser's WebSocket class (Node's from 22 on) fits the `WebSocket` option as is. */
export function withBrowserSocket(url: string): TickwireClient {
  return new TickwireClient({ url, WebSocket: globalThis.WebSocket });
}

/** A test double: what the client sends, and a way to play the server. */
export class RecordingSocket implements WebSocketLike {
  static last: RecordingSocket | null = null;
  readyState = 0;
  sent: string[] = [];
  onopen: WebSocketLike["onopen"] = null;
  onmessage: WebSocketLike["onmessage"] = null;
  onclose: WebSocketLike["onclose"] = null;
  onerror: WebSocketLike["onerror"] = null;

  constructor(readonly url: string) {
    RecordingSocket.last = this;
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(code = 1000, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

export function offline(): TickwireClient {
  return new TickwireClient({ url: "ws://test/ws/realtime/", WebSocket: RecordingSocket });
}
