/** Small DOM helpers shared by the dashboard's modules. No dependencies. */

import { direction } from "./format.js";

const FLASH_MS = 600;

export const $ = (id) => document.getElementById(id);

/** Create an element: `el("td", {class: "num", dataset: {field: "price"}}, "1.00")`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

/** Set text only when it changed (no needless layout work on every tick). */
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

/** The up / down / flat class of a signed value. */
export function setDirection(node, value) {
  if (!node) return;
  node.classList.remove("up", "down", "flat");
  node.classList.add(direction(value));
}

/** Flash a cell green or red for a moment (CSS classes flash-up / flash-down). */
export function flash(node, up) {
  if (!node) return;
  clearTimeout(node._flashTimer);
  node.classList.remove("flash-up", "flash-down");
  void node.offsetWidth; // restart the effect when ticks arrive back to back
  node.classList.add(up ? "flash-up" : "flash-down");
  node._flashTimer = setTimeout(() => node.classList.remove("flash-up", "flash-down"), FLASH_MS);
}

/** JSON in localStorage that never throws (storage can be disabled or full). */
export const store = {
  get(key, fallback) {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch {
      /* not remembered, but everything else works */
    }
  },
};

/** A short message in the corner (#toasts) for six seconds. */
export function toast(text, kind = "info") {
  const node = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  $("toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}
