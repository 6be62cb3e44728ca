/**
 * Number formatting for quotes, shared by the dashboard, the chart and the test console.
 * The rules mirror tickwire/assets/templatetags/market.py, so a value looks the same
 * whether the server rendered it or a live update did.
 */

export const MISSING = "\u2014";

/** A finite number from a number or numeric string (the REST API sends decimals as strings). */
export function toNumber(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

/** FX 5 places (4 above 10, e.g. USD-JPY), sub-unit crypto 6, everything else 2. */
export function priceDecimals(kind, reference) {
  const magnitude = Math.abs(reference || 0);
  if (kind === "fx") return magnitude < 10 ? 5 : 4;
  if (kind === "crypto" && magnitude < 1) return 6;
  return 2;
}

export function fixed(n, decimals) {
  return n.toLocaleString("en-US", {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

export function price(value, kind, reference) {
  const n = toNumber(value);
  if (n === null) return MISSING;
  return fixed(n, priceDecimals(kind, reference === undefined ? n : reference));
}

export function signed(value, kind, reference) {
  const n = toNumber(value);
  if (n === null) return MISSING;
  const text = fixed(Math.abs(n), priceDecimals(kind, reference));
  return (n < 0 ? "-" : "+") + text;
}

export function percent(value) {
  const n = toNumber(value);
  if (n === null) return MISSING;
  return (n < 0 ? "-" : "+") + Math.abs(n).toFixed(2) + "%";
}

export function volume(value, kind) {
  const n = toNumber(value);
  if (n === null) return MISSING;
  return fixed(n, kind === "crypto" ? 2 : 0);
}

/** Money in a currency, e.g. "$12,345.67" or "12,345.67 EUR" when the symbol is unknown. */
export function money(value, currency = "USD") {
  const n = toNumber(value);
  if (n === null) return MISSING;
  try {
    return n.toLocaleString("en-US", { style: "currency", currency });
  } catch {
    return `${fixed(n, 2)} ${currency}`;
  }
}

export function signedMoney(value, currency = "USD") {
  const n = toNumber(value);
  if (n === null) return MISSING;
  return (n < 0 ? "-" : "+") + money(Math.abs(n), currency);
}

/** "up", "down" or "flat" for a signed value (CSS classes of the same names). */
export function direction(value) {
  const n = toNumber(value);
  if (n === null || n === 0) return "flat";
  return n > 0 ? "up" : "down";
}

/** HH:MM:SS.mmm in local time. */
export function clock(date) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
