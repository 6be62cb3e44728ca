/**
 * A small canvas price chart: candles (or a line) at any bar interval, extended by live ticks.
 *
 * No dependencies. `new PriceChart(canvas)`, then `setSeries(bars, kind, interval)` with
 * history from /api/assets/<symbol>/bars/?interval= (may be empty) and
 * `addTick(price, time, volume)` for every update: a tick updates the bar of its interval
 * (UTC-aligned, as the API's) or opens the next one. The canvas carries what it holds for
 * tests and assistive technology: `data-bars` (bars in the series), `data-history` (of
 * those, loaded from the API), `data-drawn` (candles in view at the last draw),
 * `data-ticks`, `data-interval`. The canvas follows its CSS size (ResizeObserver) and
 * devicePixelRatio; drawing is coalesced to one per animation frame, so a burst of ticks
 * costs one redraw.
 */

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
// More than the API's MAX_BARS (5000), so a full response plus live bars all stay.
const MAX_BARS = 6000;
// Grid/label spacing candidates for the time axis.
const LABEL_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720].map((m) => m * MINUTE)
  .concat([1, 2, 7, 14, 30, 91, 182, 365].map((d) => d * DAY));
const MAX_TICKS = 5000;
const AXIS_RIGHT = 70;
const AXIS_BOTTOM = 22;
const PAD_TOP = 26;

function css(el, name, fallback) {
  const value = getComputedStyle(el).getPropertyValue(name).trim();
  return value || fallback;
}

/** "Nice" step (1, 2, 2.5, 5 x 10^n) so about `count` grid lines cover `range`. */
function niceStep(range, count) {
  const raw = range / Math.max(count, 1);
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (raw <= m * magnitude) return m * magnitude;
  }
  return 10 * magnitude;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function hhmm(t) {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** Day labels are UTC, like daily bars; intraday labels are local wall-clock time. */
function dayLabel(t) {
  const d = new Date(t);
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
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

export class PriceChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{mode?: "candles"|"line", kind?: string}} [options]
   */
  constructor(canvas, options = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.mode = options.mode === "line" ? "line" : "candles";
    this.kind = options.kind || "stock";
    this.interval = "1m";
    this.step = MINUTE;
    this.bars = [];
    this.history = 0; // how many of the bars came from the API
    this.drawn = 0;
    this.ticks = []; // {t, p}: every live price, for the line mode
    this.lastVolume = null;
    this.hover = null;
    this._frame = 0;
    this._resize = new ResizeObserver(() => this.requestDraw());
    this._resize.observe(canvas);
    canvas.addEventListener("mousemove", (e) => {
      const rect = canvas.getBoundingClientRect();
      this.hover = { x: e.clientX - rect.left, y: e.clientY - rect.top };
      this.requestDraw();
    });
    canvas.addEventListener("mouseleave", () => {
      this.hover = null;
      this.requestDraw();
    });
  }

  /**
   * Replace the history (bars sorted by start; invalid ones dropped) and clear the ticks.
   * @param {string} [interval]  one of INTERVALS' keys; the bars' length
   */
  setSeries(bars, kind, interval) {
    if (kind) this.kind = kind;
    if (interval && INTERVALS[interval]) {
      this.interval = interval;
      this.step = INTERVALS[interval].ms;
    }
    this.bars = bars.filter(Boolean).sort((a, b) => a.t - b.t).slice(-MAX_BARS);
    this.history = this.bars.length;
    this.ticks = [];
    this.lastVolume = null;
    this._publish();
    this.requestDraw();
  }

  setMode(mode) {
    this.mode = mode === "line" ? "line" : "candles";
    this.requestDraw();
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
    if (last && start <= last.t) {
      // Same interval (or a late tick): update the newest bar.
      last.h = Math.max(last.h, price);
      last.l = Math.min(last.l, price);
      last.c = price;
      last.v += dv;
    } else {
      this.bars.push({ t: start, o: last ? last.c : price, h: price, l: price, c: price, v: dv });
      if (last) {
        // A gap in the feed: the new bar opens where the last one closed.
        const bar = this.bars[this.bars.length - 1];
        bar.h = Math.max(bar.h, bar.o);
        bar.l = Math.min(bar.l, bar.o);
      }
      if (this.bars.length > MAX_BARS) {
        this.bars.shift();
        this.history = Math.max(0, this.history - 1);
      }
    }
    this.ticks.push({ t: Math.max(t, this.ticks.length ? this.ticks[this.ticks.length - 1].t : t), p: price });
    if (this.ticks.length > MAX_TICKS) this.ticks.splice(0, this.ticks.length - MAX_TICKS);
    this._publish();
    this.requestDraw();
  }

  /** Bars and ticks as data attributes and an accessible label (the canvas is an image). */
  _publish() {
    const last = this.bars[this.bars.length - 1];
    this.canvas.dataset.bars = String(this.bars.length);
    this.canvas.dataset.history = String(this.history);
    this.canvas.dataset.ticks = String(this.ticks.length);
    this.canvas.dataset.interval = this.interval;
    this.canvas.setAttribute(
      "aria-label",
      last
        ? `Price chart, ${this.bars.length} ${INTERVALS[this.interval].label} bars, last ${last.c}`
        : "Price chart, no data yet",
    );
  }

  _setDrawn(count) {
    this.drawn = count;
    this.canvas.dataset.drawn = String(count);
  }

  requestDraw() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this.draw();
    });
  }

  destroy() {
    this._resize.disconnect();
    if (this._frame) cancelAnimationFrame(this._frame);
  }

  /** The drawing: grid and axes, volume, candles or line, last-price marker, crosshair. */
  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = this.ctx;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const colors = {
      grid: css(canvas, "--border", "#243041"),
      text: css(canvas, "--muted", "#7d8a9c"),
      up: css(canvas, "--up", "#2ecc71"),
      down: css(canvas, "--down", "#ff5c5c"),
      line: css(canvas, "--accent", "#4aa3ff"),
      label: css(canvas, "--text", "#d7dee8"),
    };
    ctx.font = "11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
    ctx.textBaseline = "middle";

    const plot = { x: 0, y: PAD_TOP, w: width - AXIS_RIGHT, h: height - PAD_TOP - AXIS_BOTTOM };
    if (!this.bars.length || plot.w < 50 || plot.h < 40) {
      this._setDrawn(0);
      ctx.fillStyle = colors.text;
      ctx.textAlign = "center";
      ctx.fillText("Waiting for ticks\u2026", width / 2, height / 2);
      return;
    }

    // Time window: candles show a fixed number of intervals; the line shows what it has.
    const STEP = this.step;
    const lastBar = this.bars[this.bars.length - 1];
    const slots = Math.max(20, Math.floor(plot.w / 9));
    let t1 = lastBar.t + STEP;
    let t0 = t1 - slots * STEP;
    const lineMode = this.mode === "line";
    let points = [];
    if (lineMode) {
      const history = this.bars.map((b) => ({ t: b.t + STEP, p: b.c }));
      const firstTick = this.ticks.length ? this.ticks[0].t : Infinity;
      points = history.filter((p) => p.t < firstTick).concat(this.ticks);
      t1 = points[points.length - 1].t;
      t0 = Math.max(points[0].t, t1 - slots * STEP);
      if (t1 - t0 < STEP) t0 = t1 - STEP; // a short history fills in from the right
      points = points.filter((p) => p.t >= t0);
    }
    const visible = this.bars.filter((b) => b.t + STEP > t0);
    this._setDrawn(lineMode ? 0 : visible.length);
    const xOf = (t) => plot.x + ((t - t0) / (t1 - t0)) * plot.w;

    let lo = Infinity;
    let hi = -Infinity;
    if (lineMode) {
      for (const p of points) {
        lo = Math.min(lo, p.p);
        hi = Math.max(hi, p.p);
      }
    } else {
      for (const b of visible) {
        lo = Math.min(lo, b.l);
        hi = Math.max(hi, b.h);
      }
    }
    if (!(hi > lo)) {
      const pad = Math.abs(hi) * 0.001 || 1;
      lo -= pad;
      hi += pad;
    }
    const span = hi - lo;
    lo -= span * 0.08;
    hi += span * 0.08;
    const yOf = (p) => plot.y + (1 - (p - lo) / (hi - lo)) * plot.h;
    const decimals = priceDecimals(this.kind, lastBar.c);

    const lastPrice = lineMode ? points[points.length - 1].p : lastBar.c;
    const yLast = Math.round(yOf(lastPrice)) + 0.5;

    // Horizontal grid and price axis (no label where the last-price marker goes).
    ctx.strokeStyle = colors.grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = colors.text;
    ctx.textAlign = "left";
    const step = niceStep(hi - lo, Math.max(2, Math.floor(plot.h / 50)));
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      const y = Math.round(yOf(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(plot.x, y);
      ctx.lineTo(plot.x + plot.w, y);
      ctx.stroke();
      if (Math.abs(y - yLast) > 12) ctx.fillText(fixed(v, decimals), plot.x + plot.w + 6, y);
    }
    // Vertical grid and time axis, at round times (UTC days for daily spacing).
    const labelStep = LABEL_STEPS.find((s) => (plot.w / (t1 - t0)) * s >= 70) || 730 * DAY;
    const timeLabel = labelStep >= DAY ? dayLabel : hhmm;
    ctx.textAlign = "center";
    for (let t = Math.ceil(t0 / labelStep) * labelStep; t <= t1; t += labelStep) {
      const x = Math.round(xOf(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, plot.y);
      ctx.lineTo(x, plot.y + plot.h);
      ctx.stroke();
      ctx.fillText(timeLabel(t), x, plot.y + plot.h + AXIS_BOTTOM / 2 + 1);
    }

    // Volume along the bottom fifth.
    const maxVolume = Math.max(0, ...visible.map((b) => b.v));
    const slotWidth = (plot.w / (t1 - t0)) * STEP;
    const bodyWidth = Math.max(1, Math.min(14, slotWidth * 0.7));
    if (maxVolume > 0 && !lineMode) {
      ctx.globalAlpha = 0.28;
      for (const b of visible) {
        const hV = (b.v / maxVolume) * plot.h * 0.2;
        ctx.fillStyle = b.c >= b.o ? colors.up : colors.down;
        ctx.fillRect(xOf(b.t + STEP / 2) - bodyWidth / 2, plot.y + plot.h - hV, bodyWidth, hV);
      }
      ctx.globalAlpha = 1;
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(plot.x, plot.y, plot.w, plot.h);
    ctx.clip();
    if (lineMode) {
      ctx.beginPath();
      points.forEach((p, i) => (i ? ctx.lineTo(xOf(p.t), yOf(p.p)) : ctx.moveTo(xOf(p.t), yOf(p.p))));
      ctx.strokeStyle = colors.line;
      ctx.lineWidth = 1.6;
      ctx.stroke();
      const last = points[points.length - 1];
      ctx.lineTo(xOf(last.t), plot.y + plot.h);
      ctx.lineTo(xOf(points[0].t), plot.y + plot.h);
      ctx.closePath();
      const fill = ctx.createLinearGradient(0, plot.y, 0, plot.y + plot.h);
      fill.addColorStop(0, "rgba(74, 163, 255, 0.25)");
      fill.addColorStop(1, "rgba(74, 163, 255, 0)");
      ctx.fillStyle = fill;
      ctx.fill();
    } else {
      for (const b of visible) {
        const x = xOf(b.t + STEP / 2);
        const color = b.c >= b.o ? colors.up : colors.down;
        ctx.strokeStyle = color;
        ctx.fillStyle = color;
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(Math.round(x) + 0.5, yOf(b.h));
        ctx.lineTo(Math.round(x) + 0.5, yOf(b.l));
        ctx.stroke();
        const top = yOf(Math.max(b.o, b.c));
        const bodyHeight = Math.max(1, yOf(Math.min(b.o, b.c)) - top);
        ctx.fillRect(x - bodyWidth / 2, top, bodyWidth, bodyHeight);
      }
    }
    ctx.restore();

    // Last price: dashed line and a label on the axis.
    const lastUp = lineMode
      ? points.length < 2 || lastPrice >= points[points.length - 2].p
      : lastBar.c >= lastBar.o;
    ctx.strokeStyle = lastUp ? colors.up : colors.down;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(plot.x, yLast);
    ctx.lineTo(plot.x + plot.w, yLast);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = lastUp ? colors.up : colors.down;
    ctx.fillRect(plot.x + plot.w + 1, yLast - 9, AXIS_RIGHT - 2, 18);
    ctx.fillStyle = "#0b0f14";
    ctx.textAlign = "left";
    ctx.fillText(fixed(lastPrice, decimals), plot.x + plot.w + 6, yLast);

    this._drawHover(ctx, plot, visible, xOf, yOf, t0, t1, decimals, colors);
  }

  _drawHover(ctx, plot, visible, xOf, yOf, t0, t1, decimals, colors) {
    const h = this.hover;
    let bar = visible[visible.length - 1];
    if (h && h.x >= plot.x && h.x <= plot.x + plot.w && h.y >= plot.y && h.y <= plot.y + plot.h) {
      const t = t0 + ((h.x - plot.x) / plot.w) * (t1 - t0);
      const start = Math.floor(t / this.step) * this.step;
      bar = visible.find((b) => b.t === start) || null;
      ctx.strokeStyle = colors.text;
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      ctx.moveTo(Math.round(h.x) + 0.5, plot.y);
      ctx.lineTo(Math.round(h.x) + 0.5, plot.y + plot.h);
      ctx.moveTo(plot.x, Math.round(h.y) + 0.5);
      ctx.lineTo(plot.x + plot.w, Math.round(h.y) + 0.5);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (!bar) return;
    const f = (v) => fixed(v, decimals);
    const when = this.step >= DAY ? dayLabel(bar.t) : hhmm(bar.t);
    const text = `${when}  O ${f(bar.o)}  H ${f(bar.h)}  L ${f(bar.l)}  C ${f(bar.c)}`;
    ctx.fillStyle = colors.label;
    ctx.textAlign = "left";
    ctx.fillText(text, plot.x + 8, PAD_TOP / 2);
  }
}
