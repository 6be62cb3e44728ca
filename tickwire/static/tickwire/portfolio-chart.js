/**
 * A portfolio card's value chart: TradingView Lightweight Charts (vendored), an area of
 * the portfolio's value in its currency.
 *
 * `setHistory(body)` takes the answer of /api/portfolios/<id>/history/ (today's holdings
 * valued at each bar's close, FX included); `addValue(total, time)` folds a live
 * `portfolio_update` in: it moves the point of the current interval, or appends the next
 * one when the interval rolls, so live points sit on the same time grid as the history.
 * The container carries `data-points`, `data-history`, `data-updates` (live ones) and an aria-label with
 * the last value; `seriesData()` returns what the library holds (a test hook).
 */

import { AreaSeries, createChart } from "./vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { baseOptions, chartTheme, INTERVALS } from "./chart.js";
import * as fmt from "./format.js";

export class PortfolioValueChart {
  /**
   * @param {HTMLElement} container  an empty block element; the chart fills it
   * @param {string} currency  the portfolio's currency (ISO code), for labels
   */
  constructor(container, currency) {
    this.container = container;
    this.currency = currency;
    this.interval = "5m";
    this.step = INTERVALS[this.interval].ms;
    this.points = []; // {t (ms), v}
    this.history = 0;
    this.live = 0;
    const theme = chartTheme(container);
    const options = baseOptions(container, () => this.step < INTERVALS["1d"].ms);
    options.handleScale = { mouseWheel: false }; // the page scrolls over a card, not the chart
    options.rightPriceScale = { ...options.rightPriceScale, scaleMargins: { top: 0.15, bottom: 0.05 } };
    this.chart = createChart(container, options);
    this.area = this.chart.addSeries(AreaSeries, {
      lineColor: theme.line,
      topColor: "rgba(74, 163, 255, 0.35)",
      bottomColor: "rgba(74, 163, 255, 0.02)",
      lineWidth: 2,
      priceFormat: { type: "price", precision: 2, minMove: 0.01 },
    });
    this._publish();
  }

  /** Replace the points with a history answer ({interval, points: [{time, value}]}). */
  setHistory(body) {
    if (body && INTERVALS[body.interval]) {
      this.interval = body.interval;
      this.step = INTERVALS[body.interval].ms;
    }
    const byTime = new Map();
    for (const raw of Array.isArray(body?.points) ? body.points : []) {
      const t = Date.parse(raw.time);
      const v = fmt.toNumber(raw.value);
      if (Number.isFinite(t) && v !== null) byTime.set(t, { t, v });
    }
    this.history = byTime.size;
    // A live value that came first is newer than the history's point of its interval.
    const live = this.live ? this.points[this.points.length - 1] : null;
    if (live) byTime.set(live.t, live);
    this.points = [...byTime.values()].sort((a, b) => a.t - b.t);
    this.area.setData(this.points.map((p) => this._point(p)));
    this.chart.timeScale().fitContent();
    this._publish();
  }

  /**
   * Fold a live total in.
   * @param {number|string|null} total  the portfolio's value (null: not valued; ignored)
   * @param {number} time  ms since the epoch
   */
  addValue(total, time) {
    const v = fmt.toNumber(total);
    if (v === null) return;
    const t = Math.floor((Number.isFinite(time) ? time : Date.now()) / this.step) * this.step;
    const last = this.points[this.points.length - 1];
    if (last && t <= last.t) {
      last.v = v;
      this.area.update(this._point(last));
    } else {
      const point = { t, v };
      this.points.push(point);
      this.area.update(this._point(point));
    }
    this.live += 1;
    this._publish();
  }

  /** What the library holds (a test hook). */
  seriesData() {
    return this.area.data();
  }

  destroy() {
    this.chart.remove();
  }

  _point(p) {
    return { time: p.t / 1000, value: p.v };
  }

  _publish() {
    const last = this.points[this.points.length - 1];
    const d = this.container.dataset;
    d.points = String(this.points.length);
    d.history = String(this.history);
    d.updates = String(this.live);
    this.container.setAttribute(
      "aria-label",
      last
        ? `Portfolio value chart, ${this.points.length} points, last ${fmt.money(last.v, this.currency)}`
        : "Portfolio value chart, no data yet",
    );
  }
}
