// Building DOM without innerHTML: every string becomes a text node, so data from
// the server is never interpreted as markup. Also the form pieces every screen
// shares: labelled fields, userErrors shown at their field, dialogs.

import { currentLanguage, t } from "./i18n.js";

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

// A random key for idempotent retries (crypto.randomUUID needs a secure context;
// an intranet console may be served over plain http).
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

let uid = 0;
export const nextId = (prefix = "k") => `${prefix}-${++uid}`;

// --------------------------------------------------------------------------- errors

// What a person reads for an error: the catalogue's text for its code in Chinese;
// in English the server's own sentence, which says more (which limit, which value).
export function errorText(error) {
  const code = error.code || error.extensions?.code;
  const key = `errors.${code}`;
  if (code && (currentLanguage() !== "en" || !error.message)) {
    const text = t(key);
    if (text !== key) return text;
  }
  const message = error.message || String(error);
  return message.charAt(0).toUpperCase() + message.slice(1);
}

export function problem(error) {
  const errors = error.errors || [error];
  return h("p", { class: "error", role: "alert" }, errors.map((e) => errorText(e)).join(" "));
}

// --------------------------------------------------------------------------- pages

// Previous / "21–40 of 95" / next under a list. ``cursors`` holds each page's
// ``after`` (the first is null); ``load()`` reads the page its last one names.
export function fillPager(pager, connection, { cursors, pageSize, rangeKey, load }) {
  const page = cursors.length;
  const from = (page - 1) * pageSize + (connection.edges.length ? 1 : 0);
  const to = from + connection.edges.length - (connection.edges.length ? 1 : 0);
  clear(pager,
    h("button", { type: "button", class: "secondary", "data-read": "", disabled: page === 1 ? true : null,
      onclick: () => { cursors.pop(); load(); } }, t("common.previous")),
    h("span", { class: "count", "data-total": connection.totalCount, "aria-live": "polite" },
      t(rangeKey, { from, to, total: connection.totalCount })),
    h("button", { type: "button", class: "secondary", "data-read": "", disabled: connection.pageInfo.hasNextPage ? null : true,
      onclick: () => { cursors.push(connection.pageInfo.endCursor); load(); } }, t("common.next")));
}

// --------------------------------------------------------------------------- forms

// A labelled control. ``name`` is the input field of the GraphQL mutation it
// feeds (``email``, ``nextFollowUpAt``): a userError for that field is shown here.
export function field(text, control, { name, hint, required } = {}) {
  const id = control.id || (control.id = nextId("f"));
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  control.setAttribute("aria-describedby", [hintEl?.id, error.id].filter(Boolean).join(" "));
  if (required) control.required = true;
  return h("div", { class: "field", "data-field": name || control.name || "" },
    h("label", { for: id }, text, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    control, hintEl, error);
}

export function select(name, options, { value, label: aria, empty } = {}) {
  return h("select", { name, "aria-label": aria || null },
    empty !== undefined ? h("option", { value: "" }, empty) : null,
    options.map(([v, text]) => h("option", { value: v, selected: v === value ? true : null }, text)));
}

// Puts each userError at its field (or at the top of the form) and focuses the
// first one; returns true when there were errors.
export function showUserErrors(form, errors) {
  const general = form.querySelector(".form-errors");
  for (const el of form.querySelectorAll(".field-error")) { el.hidden = true; el.textContent = ""; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  general.replaceChildren();
  general.hidden = true;
  let first = null;
  for (const error of errors || []) {
    const name = (error.field || "").replace(/^input\./, "");
    const slot = name && (form.querySelector(`.field[data-field="${CSS.escape(name)}"]`) ||
      form.querySelector(`.field[data-field="${CSS.escape(name.split(/[.[]/)[0])}"]`));
    if (slot) {
      const message = slot.querySelector(".field-error");
      message.textContent = [message.textContent, errorText(error)].filter(Boolean).join(" ");
      message.hidden = false;
      const control = slot.querySelector("input, select, textarea");
      control?.setAttribute("aria-invalid", "true");
      first = first || control;
    } else {
      general.append(h("li", { "data-code": error.code || "" }, errorText(error)));
      general.hidden = false;
    }
  }
  if (!general.hidden) first = general;
  first?.focus();
  return Boolean(errors?.length);
}

export function formErrors() {
  return h("ul", { class: "form-errors error", role: "alert", tabindex: "-1", hidden: true });
}

// --------------------------------------------------------------------------- dialogs

// A modal <dialog> (focus stays inside; Esc closes). ``build(close)`` returns its
// body; the dialog is removed when closed.
export function openDialog(title, build) {
  const heading = h("h2", { id: nextId("dlg") }, title);
  const dialog = h("dialog", { "aria-labelledby": heading.id, class: "dialog" });
  const close = () => { dialog.close(); };
  dialog.addEventListener("close", () => dialog.remove());
  append(dialog, [h("div", { class: "dialog-head" }, heading,
    h("button", { type: "button", class: "link close", "data-read": "", onclick: close }, t("common.close"))), build(close)]);
  document.body.append(dialog);
  dialog.showModal();
  // Start at the first field rather than at "Close".
  dialog.querySelector("form input:not([type=hidden]):not([hidden]), form select, form textarea")?.focus();
  return dialog;
}

// A form with a submit button, errors on top, and busy state while ``submit``
// runs. ``submit(form)`` returns userErrors (an array) or nothing.
export function actionForm({ fields, submitText, permission, onSubmit, className = "" }) {
  const errors = formErrors();
  const button = h("button", { type: "submit", "data-permission": permission || null }, submitText);
  const form = h("form", { class: `form ${className}`, novalidate: true, "data-permission": permission || null },
    errors, fields, h("div", { class: "form-actions" }, button));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const userErrors = await onSubmit(form);
      showUserErrors(form, userErrors || []);
    } catch (error) {
      showUserErrors(form, error.errors || [{ message: error.message }]);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// "2025-03-05T10:00" (datetime-local, the browser's time zone) <-> ISO instant.
export function localInput(date) {
  if (!date) return "";
  const d = new Date(date);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : null;
}

// Copies text; falls back to selecting it where the Clipboard API is not offered
// (plain http on an intranet address).
export async function copyText(text, fallbackInput) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (fallbackInput) {
      fallbackInput.focus();
      fallbackInput.select();
      return document.execCommand?.("copy") ?? false;
    }
    return false;
  }
}
