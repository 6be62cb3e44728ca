/**
 * The dashboard's price chart: TradingView Lightweight Charts (vendored, see
 * vendor/lightweight-charts/README.md) with candles or a line of closes in the upper pane
 * and volume bars in the lower one.
 *
 * `new PriceChart(container, {onNeedOlder})`, then `setSeries(bars, kind, interval)` with
 * history from /api/assets/<symbol>/bars/?interval= (may be empty), `prependBars(older)`
 * with what an earlier page of that endpoint returned, and `addTick(price, time, volume)`
 * for every update: a tick updates the bar of its interval (UTC-aligned, as the API's) or
 * opens the next one. Pan (drag), zoom (wheel, pinch) and the crosshair are the library's;
 * when the view comes within `OLDER_MARGIN` bars of the oldest bar, `onNeedOlder()` is
 * called so the page can fetch the page before it (the page decides whether there is one).
 *
 * The container carries what the chart holds, for tests and assistive technology:
 * `data-bars` (bars in the series), `data-history` (of those, loaded from the API),
 * `data-older` (of those, loaded by scrolling back), `data-ticks`, `data-interval`, and an
 * aria-label with the last close. `seriesData()` returns what the library itself holds.
 *
 * What it does not do: it keeps no tick-by-tick line (the line mode draws bar closes, the
 * same bars as the candles), and it does not fetch anything itself.
 */

import {
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  HistogramSeries,
  LineSeries,
  createChart,
} from "./vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { fixed, priceDecimals } from "./format.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The intervals the bars API serves, in milliseconds, and how the caption names them. */
export const INTERVALS = {
  "1m": { ms: MINUTE, label: "one-minute" },
  "5m": { ms: 5 * MINUTE, label: "5-minute" },
  "15m": { ms: 15 * MINUTE, label: "15-minute" },
  "1h": { ms: HOUR, label: "hourly" },
  "1d": { ms: DAY, label: "daily" },
};
/** Bars the chart keeps at most: four full pages of the API (MAX_BARS 5000) and live bars.
 * Scrolling back stops asking for more past it. */
export const MAX_BARS = 20_000;
/** How close (in bars) the view may come to the oldest bar before older bars are asked for. */
const OLDER_MARGIN = 10;
const PRICE_PANE = 0;
const VOLUME_PANE = 1;

function css(el, name, fallback) {
  const value = getComputedStyle(el).getPropertyValue(name).trim();
  return value || fallback;
}

/** "#2ecc71" → "rgba(46, 204, 113, a)"; other colour forms are returned unchanged. */
function alpha(color, a) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!m) return color;
  return `rgba(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)}, ${a})`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n) => String(n).padStart(2, "0");

/** Intraday times are local wall-clock time; days are UTC days, like daily bars. */
export function timeLabel(seconds, intraday) {
  const d = new Date(seconds * 1000);
  if (intraday) return `${two(d.getHours())}:${two(d.getMinutes())}`;
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
}

/** The crosshair's time: the local date and time of a bar's start (the UTC day for 1d). */
function crosshairLabel(seconds, intraday) {
  const d = new Date(seconds * 1000);
  if (!intraday) return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** The shared look of the dashboard's charts, from the page's CSS variables. */
export function chartTheme(el) {
  return {
    background: css(el, "--panel", "#111821"),
    grid: css(el, "--border", "#243041"),
    text: css(el, "--muted", "#7d8a9c"),
    up: css(el, "--up", "#2ecc71"),
    down: css(el, "--down", "#ff5c5c"),
    line: css(el, "--accent", "#4aa3ff"),
  };
}

/** Options both charts share: colours, no attribution logo (see the vendored README), and
 * local-time labels. `intraday()` says whether the bars are shorter than a day. */
export function baseOptions(el, intraday) {
  const theme = chartTheme(el);
  return {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: theme.background },
      textColor: theme.text,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 11,
      // Its logo injects an inline <style>, which the page's CSP refuses; the template
      // shows the attribution and link instead.
      attributionLogo: false,
      panes: { separatorColor: theme.grid, enableResize: true },
    },
    grid: { vertLines: { color: theme.grid }, horzLines: { color: theme.grid } },
    rightPriceScale: { borderColor: theme.grid },
    timeScale: {
      borderColor: theme.grid,
      timeVisible: true,
      secondsVisible: false,
      tickMarkFormatter: (time, type) => timeLabel(time, intraday() && type >= 3),
    },
    localization: { timeFormatter: (time) => crosshairLabel(time, intraday()) },
    crosshair: { mode: CrosshairMode.Normal },
  };
}

/** Parse one bar of the REST API ({start, open, high, low, close, volume}); null if invalid. */
export function parseBar(raw) {
  if (!raw || typeof raw !== "object") return null;
  const t = Date.parse(raw.start);
  const bar = {
    t,
    o: Number(raw.open),
    h: Number(raw.high),
    l: Number(raw.low),
    c: Number(raw.close),
    v: Number(raw.volume ?? 0),
  };
  if (![bar.t, bar.o, bar.h, bar.l, bar.c].every(Number.isFinite)) return null;
  if (!Number.isFinite(bar.v)) bar.v = 0;
  return bar;
}

/** Bars sorted by start, invalid ones and repeated starts (the later one wins) dropped. */
function clean(bars) {
  const byStart = new Map();
  for (const bar of bars) if (bar) byStart.set(bar.t, bar);
  return [...byStart.values()].sort((a, b) => a.t - b.t);
}

export class PriceChart {
  /**
   * @param {HTMLElement} container  an empty block element; the chart fills it
   * @param {{mode?: "candles"|"line", kind?: string, onNeedOlder?: () => void,
   *   legend?: HTMLElement}} [options]  `legend`: where the hovered (else the last) bar's
   *   time, open, high, low and close are written
   */
  constructor(container, options = {}) {
    this.container = container;
    this.legend = options.legend || null;
    this.hovered = null; // the bar under the crosshair, by its start (ms)
    this.mode = options.mode === "line" ? "line" : "candles";
    this.kind = options.kind || "stock";
    this.onNeedOlder = options.onNeedOlder || null;
    this.interval = "1m";
    this.step = MINUTE;
    this.bars = [];
    this.history = 0; // how many of the bars came from the API
    this.older = 0; // of those, how many by scrolling back
    this.ticks = 0;
    this.lastVolume = null;
    const theme = chartTheme(container);
    this.theme = theme;
    const look = baseOptions(container, () => this.step < DAY);
    // Room above the highest bar for the legend.
    look.rightPriceScale = { ...look.rightPriceScale, scaleMargins: { top: 0.14, bottom: 0.06 } };
    this.chart = createChart(container, look);
    this.candles = this.chart.addSeries(
      CandlestickSeries,
      {
        upColor: theme.up,
        downColor: theme.down,
        wickUpColor: theme.up,
        wickDownColor: theme.down,
        borderVisible: false,
        visible: this.mode === "candles",
      },
      PRICE_PANE,
    );
    this.line = this.chart.addSeries(
      LineSeries,
      { color: theme.line, lineWidth: 2, visible: this.mode === "line" },
      PRICE_PANE,
    );
    this.volume = this.chart.addSeries(
      HistogramSeries,
      { priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false },
      VOLUME_PANE,
    );
    const [pricePane, volumePane] = this.chart.panes();
    pricePane.setStretchFactor(3);
    volumePane.setStretchFactor(1);
    this.chart.timeScale().subscribeVisibleLogicalRangeChange((range) => this._onRange(range));
    this.chart.subscribeCrosshairMove((param) => {
      this.hovered = param && param.time !== undefined ? param.time * 1000 : null;
      this._showLegend();
    });
    this._publish();
  }

  /**
   * Replace the history (bars sorted by start; invalid ones dropped) and reset the ticks.
   * @param {Array<object|null>} bars  parsed bars ({t, o, h, l, c, v}; see parseBar)
   * @param {string} [kind]  the asset's kind, for the price scale's decimals
   * @param {string} [interval]  one of INTERVALS' keys; the bars' length
   */
  setSeries(bars, kind, interval) {
    if (kind) this.kind = kind;
    if (interval && INTERVALS[interval]) {
      this.interval = interval;
      this.step = INTERVALS[interval].ms;
    }
    this.bars = clean(bars).slice(-MAX_BARS);
    this.history = this.bars.length;
    this.older = 0;
    this.ticks = 0;
    this.lastVolume = null;
    this._setPrecision();
    this._setData();
    this.chart.timeScale().resetTimeScale();
    this._publish();
  }

  /**
   * Put older bars (a page of history before the first bar) in front; bars not older than
   * the first one are ignored. The view stays on the bars it showed.
   * @returns {number} how many bars were added
   */
  prependBars(bars) {
    const first = this.bars[0];
    const older = clean(bars).filter((b) => !first || b.t < first.t);
    const room = Math.max(0, MAX_BARS - this.bars.length);
    const added = older.slice(Math.max(0, older.length - room));
    if (!added.length) return 0;
    this.bars = added.concat(this.bars);
    this.history += added.length;
    this.older += added.length;
    this._setData();
    this._publish();
    return added.length;
  }

  /** Whether the chart has room for more bars from scrolling back. */
  get full() {
    return this.bars.length >= MAX_BARS;
  }

  setMode(mode) {
    this.mode = mode === "line" ? "line" : "candles";
    this.candles.applyOptions({ visible: this.mode === "candles" });
    this.line.applyOptions({ visible: this.mode === "line" });
  }

  /**
   * Fold one live price into the chart.
   * @param {number} price
   * @param {number} time  ms since the epoch (the update's timestamp)
   * @param {number|null} cumulativeVolume  the day's volume so far; its growth is bar volume
   */
  addTick(price, time, cumulativeVolume = null) {
    if (!Number.isFinite(price)) return;
    const t = Number.isFinite(time) ? time : Date.now();
    let dv = 0;
    if (Number.isFinite(cumulativeVolume)) {
      // A drop means a new trading day: its volume starts over.
      if (this.lastVolume !== null && cumulativeVolume >= this.lastVolume) {
        dv = cumulativeVolume - this.lastVolume;
      }
      this.lastVolume = cumulativeVolume;
    }
    const start = Math.floor(t / this.step) * this.step;
    const last = this.bars[this.bars.length - 1];
    let bar;
    if (last && start <= last.t) {
      // Same interval (or a late tick): update the newest bar.
      bar = last;
      bar.h = Math.max(bar.h, price);
      bar.l = Math.min(bar.l, price);
      bar.c = price;
      bar.v += dv;
    } else {
      // A new interval; after a gap in the feed it opens where the last bar closed.
      const open = last ? last.c : price;
      bar = { t: start, o: open, h: Math.max(open, price), l: Math.min(open, price), c: price, v: dv };
      this.bars.push(bar);
      if (this.bars.length > MAX_BARS) {
        this.bars.shift();
        this.history = Math.max(0, this.history - 1);
        this._setData();
      }
      if (!last) this._setPrecision();
    }
    this.ticks += 1;
    this.candles.update(this._candle(bar));
    this.line.update(this._point(bar));
    this.volume.update(this._volume(bar));
    this._publish();
  }

  /** What the library holds: its candle, line and volume series data (a test hook). */
  seriesData() {
    return {
      candles: this.candles.data(),
      line: this.line.data(),
      volume: this.volume.data(),
      panes: this.chart.panes().map((pane) => pane.getSeries().length),
      visible: this.chart.timeScale().getVisibleLogicalRange(),
      visibleTime: this.chart.timeScale().getVisibleRange(),
    };
  }

  /** Show the oldest bars at the left edge, at the current zoom (as if the user scrolled
   * all the way back). */
  scrollToOldest() {
    const scale = this.chart.timeScale();
    const range = scale.getVisibleLogicalRange();
    const width = range ? range.to - range.from : 100;
    scale.setVisibleLogicalRange({ from: -2, to: width - 2 });
  }

  destroy() {
    this.chart.remove();
  }

  _onRange(range) {
    if (!range || !this.onNeedOlder || !this.bars.length) return;
    if (range.from < OLDER_MARGIN) this.onNeedOlder();
  }

  _setPrecision() {
    const last = this.bars[this.bars.length - 1];
    const precision = priceDecimals(this.kind, last ? last.c : 0);
    const priceFormat = { type: "price", precision, minMove: 10 ** -precision };
    this.candles.applyOptions({ priceFormat });
    this.line.applyOptions({ priceFormat });
  }

  _setData() {
    this.candles.setData(this.bars.map((b) => this._candle(b)));
    this.line.setData(this.bars.map((b) => this._point(b)));
    this.volume.setData(this.bars.map((b) => this._volume(b)));
  }

  _candle(b) {
    return { time: b.t / 1000, open: b.o, high: b.h, low: b.l, close: b.c };
  }

  _point(b) {
    return { time: b.t / 1000, value: b.c };
  }

  _volume(b) {
    const color = alpha(b.c >= b.o ? this.theme.up : this.theme.down, 0.45);
    return { time: b.t / 1000, value: b.v, color };
  }

  /** The hovered bar's (else the last bar's) time and prices above the chart. */
  _showLegend() {
    if (!this.legend) return;
    let bar = this.bars[this.bars.length - 1];
    if (this.hovered !== null) {
      // Bars are sorted by start: a binary search, since the crosshair moves often.
      let lo = 0;
      let hi = this.bars.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const t = this.bars[mid].t;
        if (t === this.hovered) {
          bar = this.bars[mid];
          break;
        }
        if (t < this.hovered) lo = mid + 1;
        else hi = mid - 1;
      }
    }
    if (!bar) {
      this.legend.textContent = "";
      return;
    }
    const decimals = priceDecimals(this.kind, bar.c);
    const f = (v) => fixed(v, decimals);
    const when = crosshairLabel(bar.t / 1000, this.step < DAY);
    this.legend.textContent = `${when}  O ${f(bar.o)}  H ${f(bar.h)}  L ${f(bar.l)}  C ${f(bar.c)}`;
    this.legend.dataset.time = String(bar.t / 1000);
  }

  /** Bars and ticks as data attributes and an accessible label (the chart is an image). */
  _publish() {
    this._showLegend();
    const last = this.bars[this.bars.length - 1];
    const d = this.container.dataset;
    d.bars = String(this.bars.length);
    d.history = String(this.history);
    d.older = String(this.older);
    d.ticks = String(this.ticks);
    d.interval = this.interval;
    this.container.setAttribute(
      "aria-label",
      last
        ? `Price chart, ${this.bars.length} ${INTERVALS[this.interval].label} bars, last ${last.c}`
        : "Price chart, no data yet",
    );
  }
}
