// Building DOM without innerHTML: every string becomes a text node, so data from
// the server is never interpreted as markup.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

export function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.setAttribute("class", value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child)); // strings become text nodes
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function formatDate(value, withTime = true) {
  if (!value) return "—";
  const date = new Date(value);
  return withTime
    ? date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })
    : date.toLocaleDateString(undefined, { dateStyle: "medium" });
}

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || value === "") return "—";
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function label(enumValue) {
  return enumValue ? enumValue.toLowerCase().replaceAll("_", " ") : "—";
}

// "in 3h 12m" / "overdue by 2d 4h"
export function countdown(due, now = Date.now()) {
  if (!due) return { text: "no deadline running", overdue: false };
  let ms = new Date(due).getTime() - now;
  const overdue = ms < 0;
  ms = Math.abs(ms);
  const d = Math.floor(ms / 86400000), hrs = Math.floor((ms % 86400000) / 3600000);
  const m = Math.floor((ms % 3600000) / 60000), sec = Math.floor((ms % 60000) / 1000);
  const span = d ? `${d}d ${hrs}h` : hrs ? `${hrs}h ${m}m` : `${m}m ${sec}s`;
  return { text: overdue ? `overdue by ${span}` : `due in ${span}`, overdue, soon: !overdue && ms < 4 * 3600000 };
}
