// kehu console: the shell — sign-in, the header with its language switch, and
// routing. Each screen lives in its own module, renders into #app and returns a
// cleanup function (timers, the live connection).

import { boardView } from "./board.js";
import { customerFormView, customersView } from "./customers.js";
import { customerView } from "./customer.js";
import { dashboardsView } from "./dashboards.js";
import { canReviewDuplicates, duplicatesView, mergeView } from "./duplicates.js";
import { clear, errorText, h, problem } from "./dom.js";
import { hasOperation, loadManifest, manifestValue, request, session, whenSignedOut } from "./gql.js";
import { LANGUAGES, browserLanguage, currentLanguage, languageOf, label, missingKeys, rememberedLanguage, setCurrency, setTimeZone, t, useLanguage } from "./i18n.js";
import { myDayView } from "./myday.js";
import { can, enabled, landing, setViewer, signedOut, state } from "./state.js";
import { surveyFormView, surveyView, surveysView } from "./surveys.js";

const app = document.getElementById("app");
const top = document.getElementById("top");
state.missingKeys = missingKeys; // read by the browser tests: catalogue keys asked for and not found
let cleanup = () => {};
let routing = Promise.resolve();

// --------------------------------------------------------------------------- header

function header() {
  const languageSwitch = h("select", { name: "language", "aria-label": t("nav.language"), "data-read": "", class: "language",
    onchange: (event) => chooseLanguage(event.target.value) },
    Object.values(LANGUAGES).map((tag) => h("option", { value: tag, lang: tag, selected: tag === currentLanguage() ? true : null },
      t(`language.${languageOf(tag)}`))));
  if (!state.viewer) return clear(top, h("div", { class: "bar" }, h("span", { class: "brand" }, t("app.brand")), h("span", { class: "spacer" }), languageSwitch));
  const section = location.hash.split("/")[1] || "";
  const link = (name, text, show = true) =>
    show ? h("a", { href: `#/${name}`, "aria-current": section === name ? "page" : null }, text) : null;
  const v = state.viewer;
  clear(top, h("div", { class: "bar" },
    h("a", { class: "brand", href: landing() }, t("app.brand")),
    h("nav", { "aria-label": t("nav.label") },
      link("my-day", t("nav.myDay"), can("interactions.log")),
      link("customers", t("nav.customers")),
      link("duplicates", t("nav.duplicates"), canReviewDuplicates()),
      link("complaints", t("nav.complaints"), enabled("complaints")),
      link("surveys", t("nav.surveys"), enabled("surveys")),
      link("dashboards", t("nav.dashboards"))),
    h("span", { class: "spacer" }),
    languageSwitch,
    h("span", { class: "who", "data-role": v.role }, v.name, h("span", { class: "role" }, ` · ${label("Role", v.role)}`)),
    h("button", { type: "button", class: "link signout", "data-read": "", onclick: signOut }, t("nav.signOut"))));
}

async function chooseLanguage(tag) {
  await useLanguage(tag, { remember: true });
  if (state.viewer && hasOperation("SetMyLanguage")) {
    try {
      const data = await request("SetMyLanguage", { language: languageOf(tag) });
      state.viewer.language = data.setMyLanguage.me?.language ?? state.viewer.language;
    } catch { /* the choice still holds on this device */ }
  }
  route();
}

async function signOut() {
  try { await request("Logout"); } catch { /* the token may be gone already */ }
  session.token = null;
  signedOut();
  location.hash = "#/signin";
}

whenSignedOut(() => {
  session.token = null;
  signedOut();
  route();
});

// --------------------------------------------------------------------------- sign-in

function signInView() {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, id: "signin-email" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true, id: "signin-password" });
  const message = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    message.hidden = true;
    try {
      const data = await request("Login", { email: email.value, password: password.value });
      const result = data.login;
      if (!result.token) {
        const error = result.userErrors[0];
        message.textContent = !error || error.code === "INVALID_CREDENTIALS" ? t("signin.failed") : errorText(error);
        message.hidden = false;
        return;
      }
      session.token = result.token;
      await loadViewer();
      // A deep link stays where it pointed; only the sign-in page itself moves on.
      const wanted = location.hash;
      if (!wanted || wanted === "#/" || wanted.startsWith("#/signin")) location.hash = landing();
      else route();
    } catch (error) {
      clear(message, problem(error).textContent);
      message.hidden = false;
    }
  } },
    h("h1", {}, t("signin.title")),
    h("label", { for: email.id }, t("signin.email")), email,
    h("label", { for: password.id }, t("signin.password")), password,
    message,
    h("button", { type: "submit" }, t("signin.submit")),
  );
  clear(app, form);
  email.focus();
}

async function loadViewer() {
  const data = await request("Viewer");
  setViewer(data.me, data.plugins);
  const chosen = data.me?.language ? LANGUAGES[data.me.language] : null;
  if (chosen && chosen !== currentLanguage()) await useLanguage(chosen, { remember: true });
}

// --------------------------------------------------------------------------- routing

function notFoundView(path) {
  clear(app,
    h("h1", {}, t("notFound.title")),
    h("p", {}, t("notFound.message", { path })),
    h("p", {}, h("a", { href: landing() }, t("notFound.home"))));
  return () => {};
}

const ROUTES = [
  [/^\/my-day$/, () => can("interactions.log") && myDayView],
  [/^\/customers$/, () => customersView],
  [/^\/customers\/new$/, () => can("customers.create") && ((app) => customerFormView(app, null))],
  [/^\/customers\/([^/]+)\/edit$/, () => can("customers.update") && ((app, id) => customerFormView(app, id))],
  [/^\/customers\/([^/]+)$/, () => customerView],
  [/^\/duplicates$/, () => canReviewDuplicates() && duplicatesView],
  [/^\/duplicates\/merge\/([^/]+)$/, () => canReviewDuplicates() && mergeView],
  [/^\/complaints$/, () => enabled("complaints") && boardView],
  [/^\/surveys$/, () => enabled("surveys") && surveysView],
  [/^\/surveys\/new$/, () => enabled("surveys") && can("surveys.manage") && surveyFormView],
  [/^\/surveys\/([^/]+)$/, () => enabled("surveys") && surveyView],
  [/^\/dashboards$/, () => dashboardsView],
];

async function render() {
  cleanup();
  cleanup = () => {};
  const hash = location.hash;
  const path = hash.replace(/^#/, "");
  state.rendered = null;
  if (!session.token) {
    state.view = "signin";
    header();
    signInView();
    state.rendered = hash;
    return;
  }
  if (!state.viewer) {
    try { await loadViewer(); } catch { session.token = null; signedOut(); return render(); }
  }
  if (path === "" || path === "/" || path.startsWith("/signin")) {
    location.replace(landing());
    return;
  }
  header();
  for (const [pattern, view] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    const chosen = view();
    if (!chosen) break;
    state.view = path.split("/")[1];
    cleanup = chosen(app, ...match.slice(1).map(decodeURIComponent)) || cleanup;
    app.focus({ preventScroll: true });
    state.rendered = hash;
    return;
  }
  state.view = "not-found";
  cleanup = notFoundView(path);
  state.rendered = hash;
}

// One render at a time, in order (a hash change during a render waits for it).
// ``state.rendered`` names the hash last rendered (the browser tests wait on it).
function route() {
  routing = routing.then(render, render).catch((error) => clear(app, problem(error)));
  return routing;
}

window.addEventListener("hashchange", route);

(async () => {
  try {
    await loadManifest();
    setCurrency(manifestValue("currency"));
    setTimeZone(manifestValue("timezone"));
    await useLanguage(rememberedLanguage() || browserLanguage(manifestValue("languages")));
    await route();
  } catch (error) {
    clear(app, problem(error));
  }
})();
