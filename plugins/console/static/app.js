// kehu console: sign-in, customers, a customer's page, the complaints board and
// dashboards — all through /graphql. Views render into #app and return a cleanup
// function (timers, the live connection).

import { barChart, barLineChart, lineChart, shareChart, COLORS } from "./charts.js";
import { append, clear, countdown, formatDate, formatNumber, h, label } from "./dom.js";
import { LiveEvents, hasOperation, loadManifest, request, session, whenSignedOut } from "./gql.js";

const app = document.getElementById("app");
const top = document.getElementById("top");

// Page state, also read by the browser tests.
const state = (window.kehuConsole = { viewer: null, plugins: new Set(), events: [], live: "offline", view: null });
let cleanup = () => {};

const enabled = (plugin) => state.plugins.has(plugin);

// --------------------------------------------------------------------------- shell

function header() {
  if (!state.viewer) return clear(top);
  const link = (href, text, plugin) =>
    !plugin || enabled(plugin) ? h("a", { href, "aria-current": location.hash.startsWith(href) ? "page" : null }, text) : null;
  clear(top, h("nav", {},
    h("span", { class: "brand" }, "kehu ", h("span", { class: "muted" }, "console")),
    link("#/customers", "Customers"),
    link("#/complaints", "Complaints", "complaints"),
    link("#/dashboards", "Dashboards"),
    h("span", { class: "spacer" }),
    h("span", { class: "who", "data-role": state.viewer.role }, `${state.viewer.name} · ${state.viewer.role.toLowerCase()}`),
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
  ));
}

function problem(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

function panel(name, title, ...body) {
  return h("section", { class: "panel", "data-panel": name }, h("h3", {}, title), ...body);
}

async function signOut() {
  try { await request("Logout"); } catch { /* the token may be gone already */ }
  session.token = null;
  state.viewer = null;
  location.hash = "#/signin";
  route();
}

whenSignedOut(() => {
  session.token = null;
  state.viewer = null;
  location.hash = "#/signin";
});

// --------------------------------------------------------------------------- sign-in

function signInView() {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const message = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    message.hidden = true;
    try {
      const data = await request("Login", { email: email.value, password: password.value });
      const result = data.login;
      if (!result.token) throw new Error(result.userErrors.map((e) => e.message).join("; ") || "sign-in failed");
      session.token = result.token;
      await loadViewer();
      location.hash = "#/customers";
    } catch (error) {
      message.textContent = error.message;
      message.hidden = false;
    }
  } },
    h("h1", {}, "Sign in to kehu"),
    h("label", {}, "E-mail", email),
    h("label", {}, "Password", password),
    message,
    h("button", { type: "submit" }, "Sign in"),
  );
  clear(app, form);
}

async function loadViewer() {
  const data = await request("Viewer");
  state.viewer = data.me;
  state.plugins = new Set(data.plugins.filter((p) => p.enabled).map((p) => p.name));
}

// --------------------------------------------------------------------------- customers

const customerQuery = { search: "", kind: "", valueTier: "", lifecycleStage: "", abcClass: "", order: "NAME:ASC", cursors: [null] };

function customersView() {
  const q = customerQuery;
  const table = h("div", { class: "results" }, h("p", { class: "muted" }, "Loading…"));
  const pager = h("div", { class: "pager" });
  let timer;

  const select = (name, options, title) =>
    h("select", { name, "aria-label": title, onchange: (e) => { q[name] = e.target.value; q.cursors = [null]; load(); } },
      h("option", { value: "" }, title),
      options.map((o) => h("option", { value: o, selected: q[name] === o ? true : null }, label(o))));

  const search = h("input", {
    type: "search", name: "search", placeholder: "Search name, e-mail or phone", value: q.search,
    oninput: (e) => { clearTimeout(timer); timer = setTimeout(() => { q.search = e.target.value.trim(); q.cursors = [null]; load(); }, 250); },
  });
  const filters = h("div", { class: "filters" },
    search,
    select("kind", ["PERSON", "ORGANIZATION"], "Any kind"),
    enabled("segmentation") && [
      select("valueTier", ["CORE", "POTENTIAL", "GENERAL"], "Any value tier"),
      select("lifecycleStage", ["PROSPECT", "NEW", "ACTIVE", "LOYAL", "AT_RISK", "CHURNED"], "Any lifecycle stage"),
      select("abcClass", ["A", "B", "C"], "Any ABC class"),
    ],
    h("select", { name: "order", "aria-label": "Order", onchange: (e) => { q.order = e.target.value; q.cursors = [null]; load(); } },
      [["NAME:ASC", "Name A–Z"], ["LAST_INTERACTION_AT:DESC", "Recently in touch"], ["CREATED_AT:DESC", "Newest"]]
        .map(([v, t]) => h("option", { value: v, selected: q.order === v ? true : null }, t))),
  );

  async function load() {
    const filter = {};
    if (q.search) filter.search = q.search;
    if (q.kind) filter.kinds = [q.kind];
    for (const key of ["valueTier", "lifecycleStage", "abcClass"]) if (q[key]) filter[key] = q[key];
    const [field, direction] = q.order.split(":");
    const after = q.cursors[q.cursors.length - 1];
    try {
      const data = await request("Customers", { first: 20, after, filter, orderBy: { field, direction } });
      renderTable(data.customers);
    } catch (error) {
      clear(table, problem(error));
    }
  }

  function renderTable(connection) {
    const rows = connection.edges.map(({ node }) => h("tr", { "data-id": node.id },
      h("td", {}, h("a", { href: `#/customers/${encodeURIComponent(node.id)}`, class: "customer-link" }, node.name)),
      h("td", {}, label(node.kind)),
      h("td", { class: "email" }, node.email || "—"),
      h("td", {}, node.region || "—"),
      h("td", {}, node.owner?.name || "—"),
      h("td", {}, formatDate(node.lastInteractionAt, false)),
      h("td", {}, node.tags.map((t) => h("span", { class: "tag" }, t))),
    ));
    clear(table, connection.totalCount === 0 ? h("p", { class: "muted empty" }, "No customers match.") :
      h("table", { class: "customers" },
        h("thead", {}, h("tr", {}, ["Name", "Kind", "E-mail", "Region", "Owner", "Last contact", "Tags"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)));
    const page = q.cursors.length;
    const from = (page - 1) * 20 + (connection.edges.length ? 1 : 0);
    clear(pager,
      h("button", { type: "button", disabled: page === 1 ? true : null, onclick: () => { q.cursors.pop(); load(); } }, "‹ Previous"),
      h("span", { class: "count", "data-total": connection.totalCount },
        `${from}–${from + connection.edges.length - (connection.edges.length ? 1 : 0)} of ${connection.totalCount}`),
      h("button", { type: "button", disabled: connection.pageInfo.hasNextPage ? null : true,
        onclick: () => { q.cursors.push(connection.pageInfo.endCursor); load(); } }, "Next ›"));
  }

  clear(app, h("h1", {}, "Customers"), filters, table, pager);
  load();
  return () => clearTimeout(timer);
}

// --------------------------------------------------------------------------- one customer

function customerView(id) {
  const main = h("div", { class: "customer-main" }, h("p", { class: "muted" }, "Loading…"));
  const side = h("div", { class: "customer-side" });
  clear(app, h("p", {}, h("a", { href: "#/customers" }, "‹ Customers")), h("div", { class: "customer" }, main, side));

  (async () => {
    let data;
    try {
      data = await request("Customer", { id });
    } catch (error) {
      return clear(main, problem(error));
    }
    const c = data.customer;
    if (!c) return clear(main, h("h1", {}, "Not found"), h("p", {}, "This customer does not exist, or you may not see it."));
    const details = [["Kind", label(c.kind)], ["E-mail", c.email], ["Phone", c.phone], ["Address", c.address],
      ["Region", c.region], ["Industry", c.industry], ["Owner", c.owner ? `${c.owner.name} (${c.owner.team || "no team"})` : null],
      ["Customer since", formatDate(c.createdAt, false)]];
    const timeline = h("ol", { class: "timeline" });
    const more = h("button", { type: "button" }, "Older interactions");
    const addInteractions = (connection) => {
      append(timeline, connection.edges.map(({ node }) => h("li", { "data-kind": node.kind },
        h("div", { class: "when" }, formatDate(node.occurredAt)),
        h("div", {}, h("strong", {}, label(node.kind)), " ", h("span", { class: "muted" }, label(node.direction)),
          node.amount ? h("span", { class: "amount" }, ` ${formatNumber(node.amount, 2)}`) : null),
        node.subject ? h("div", {}, node.subject) : null,
        node.notes ? h("div", { class: "notes" }, node.notes) : null,
        node.owner ? h("div", { class: "muted" }, `by ${node.owner.name}`) : null)));
      more.hidden = !connection.pageInfo.hasNextPage;
      more.onclick = async () => {
        const next = await request("Customer", { id, after: connection.pageInfo.endCursor });
        addInteractions(next.customer.interactions);
      };
    };
    addInteractions(c.interactions);
    clear(main,
      h("h1", {}, c.name, c.archivedAt ? h("span", { class: "badge" }, "archived") : null),
      h("div", {}, c.tags.map((t) => h("span", { class: "tag" }, t))),
      h("dl", { class: "details" }, details.filter(([, v]) => v).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("h2", {}, `Interactions (${c.interactions.totalCount})`),
      timeline, more);
    for (const render of [segmentationPanel, loyaltyPanel, complaintsPanel, surveysPanel]) {
      const section = render(id);
      if (section) side.append(section);
    }
  })();
  return () => {};
}

function lazyPanel(plugin, name, title, operation, id, fill) {
  if (!enabled(plugin) || !hasOperation(operation)) return null;
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  request(operation, { id })
    .then((data) => clear(body, fill(data.customer)))
    .catch((error) => clear(body, problem(error)));
  return panel(name, title, body);
}

const segmentationPanel = (id) => lazyPanel("segmentation", "segmentation", "Segmentation", "CustomerSegmentation", id, (c) => {
  const s = c.segmentation;
  if (!s) return h("p", { class: "muted" }, "Not scored yet.");
  return [
    h("div", { class: "chips" },
      h("span", { class: `chip tier-${s.valueTier}` }, `${label(s.valueTier)} value`),
      h("span", { class: "chip" }, label(s.lifecycleStage)),
      s.abcClass ? h("span", { class: "chip" }, `ABC ${s.abcClass}`) : null,
      h("span", { class: "chip" }, `${label(s.frequencyClass)} frequency`)),
    h("p", { class: "explanation" }, s.explanation),
    h("dl", { class: "details" },
      h("dt", {}, "RFM"), h("dd", {}, s.rfm.score || "—", s.rfm.segment ? ` (${label(s.rfm.segment)})` : ""),
      h("dt", {}, "Revenue so far"), h("dd", {}, formatNumber(s.clv.historical, 2)),
      h("dt", {}, "Predicted CLV"), h("dd", {}, formatNumber(s.clv.predicted, 2))),
    c.segments.length ? h("div", {}, "Segments: ", c.segments.map((g) => h("span", { class: "tag" }, g.name))) : null,
  ];
});

const loyaltyPanel = (id) => lazyPanel("loyalty", "loyalty", "Loyalty", "CustomerLoyalty", id, (c) => {
  const l = c.loyalty;
  return [
    h("p", { class: "big" }, h("span", { class: "balance" }, formatNumber(l.balance)), " points · ", l.tier.name),
    l.nextTier ? h("p", { class: "muted" }, `${formatNumber(l.pointsToNextTier)} points to ${l.nextTier.name}`) : null,
    l.ledger.edges.length ? h("table", { class: "ledger" },
      h("thead", {}, h("tr", {}, ["When", "What", "Points", "Balance"].map((t) => h("th", {}, t)))),
      h("tbody", {}, l.ledger.edges.map(({ node }) => h("tr", {},
        h("td", {}, formatDate(node.createdAt, false)), h("td", {}, node.reason || label(node.kind)),
        h("td", { class: node.points < 0 ? "neg num" : "num" }, formatNumber(node.points)),
        h("td", { class: "num" }, formatNumber(node.balanceAfter))))))
      : h("p", { class: "muted" }, "No points yet."),
  ];
});

const complaintsPanel = (id) => lazyPanel("complaints", "complaints", "Complaints", "CustomerComplaints", id, (c) =>
  c.complaints.edges.length
    ? h("ul", { class: "plain" }, c.complaints.edges.map(({ node }) => h("li", { "data-status": node.status },
        h("span", { class: `status status-${node.status}` }, label(node.status)), " ",
        h("strong", {}, node.category), ` · ${label(node.priority)} · ${formatDate(node.createdAt, false)}`,
        node.overdue ? h("span", { class: "badge danger" }, "overdue") : null,
        h("div", { class: "muted clip" }, node.description))))
    : h("p", { class: "muted" }, "No complaints."));

const surveysPanel = (id) => lazyPanel("surveys", "surveys", "Survey responses", "CustomerSurveys", id, (c) =>
  c.surveyResponses.edges.length
    ? h("ul", { class: "plain" }, c.surveyResponses.edges.map(({ node }) => h("li", {},
        h("strong", {}, node.survey.title), ` · ${formatDate(node.submittedAt, false)}`,
        h("ul", { class: "answers" }, node.answers.map((a) => h("li", {},
          h("span", { class: "muted" }, `${a.question.type}: `),
          a.score !== null ? h("strong", {}, String(a.score)) : null,
          a.text ? h("q", {}, a.text) : null))))))
    : h("p", { class: "muted" }, "No responses."));

// --------------------------------------------------------------------------- complaints board

const BOARD = ["RECEIVED", "ACKNOWLEDGED", "INVESTIGATING", "RESOLUTION_PROPOSED", "REOPENED", "RESOLVED"];
const NEEDS_NOTE = new Set(["RESOLUTION_PROPOSED", "REJECTED", "REOPENED", "CLOSED"]);

function boardView() {
  const columns = new Map(BOARD.map((status) => [status, h("div", { class: "cards" })]));
  const counts = new Map(BOARD.map((status) => [status, h("span", { class: "count" }, "0")]));
  const liveBadge = h("span", { class: "live", "data-state": state.live }, state.live);
  const cards = new Map(); // complaint id -> { el, data }
  state.board = cards;

  clear(app,
    h("div", { class: "board-head" }, h("h1", {}, "Complaints"), liveBadge),
    h("div", { class: "board" }, BOARD.map((status) => h("section", { class: "column", "data-status": status },
      h("h2", {}, label(status), " ", counts.get(status)), columns.get(status)))));

  const recount = () => BOARD.forEach((status) => { counts.get(status).textContent = String(columns.get(status).children.length); });

  function card(c) {
    const sla = h("div", { class: "sla", "data-due": c.nextDueAt || "" });
    const choose = h("select", { "aria-label": "Move to" },
      c.allowedTransitions.map((t) => h("option", { value: t }, label(t))));
    const note = h("input", { type: "text", placeholder: "Note", "aria-label": "Note", class: "note" });
    const feedback = h("div", { class: "error", role: "alert" });
    const syncNote = () => { note.hidden = !NEEDS_NOTE.has(choose.value); };
    choose.addEventListener("change", syncNote);
    syncNote();
    const move = h("button", { type: "button", class: "move", onclick: async () => {
      feedback.textContent = "";
      move.disabled = true;
      try {
        const data = await request("TransitionComplaint", { input: { id: c.id, to: choose.value, note: note.value || null } });
        const errors = data.transitionComplaint.userErrors;
        if (errors.length) feedback.textContent = errors.map((e) => e.message).join("; ");
        else await refresh(c.id); // the live event will say the same; this covers a dropped connection
      } catch (error) {
        feedback.textContent = error.message;
      } finally {
        move.disabled = false;
      }
    } }, "Move");
    const el = h("article", { class: `card priority-${c.priority}`, "data-id": c.id, "data-status": c.status, "data-customer": c.customer?.id },
      h("div", { class: "card-top" }, h("strong", {}, c.customer?.name || "—"), h("span", { class: "prio" }, label(c.priority))),
      h("div", { class: "muted" }, `${c.category} · ${c.assignee?.name || "unassigned"}`),
      sla,
      c.allowedTransitions.length ? h("div", { class: "actions" }, choose, note, move) : null,
      feedback);
    tick(sla);
    return el;
  }

  function place(c) {
    const existing = cards.get(c.id);
    if (existing) existing.el.remove();
    if (!c || !BOARD.includes(c.status)) { cards.delete(c.id); return recount(); }
    const el = card(c);
    cards.set(c.id, { el, data: c });
    const column = columns.get(c.status);
    // Soonest deadline first; cases without one last.
    const due = (x) => (x.nextDueAt ? new Date(x.nextDueAt).getTime() : Infinity);
    const before = [...column.children].find((other) => due(cards.get(other.dataset.id)?.data || {}) > due(c));
    column.insertBefore(el, before || null);
    recount();
    return el;
  }

  async function refresh(id) {
    const data = await request("BoardComplaint", { id });
    if (!data.complaint) {
      cards.get(id)?.el.remove();
      cards.delete(id);
      return recount();
    }
    const el = place(data.complaint);
    if (el) { el.classList.add("flash"); setTimeout(() => el.classList.remove("flash"), 1500); }
  }

  request("ComplaintBoard", { statuses: BOARD })
    .then((data) => data.complaints.edges.forEach(({ node }) => place(node)))
    .catch((error) => app.append(problem(error)));

  const timer = setInterval(() => app.querySelectorAll(".sla").forEach(tick), 1000);
  const live = new LiveEvents({
    topics: ["complaint"],
    onStatus: (status) => { state.live = status; liveBadge.textContent = status; liveBadge.dataset.state = status; },
    onEvent: (event) => {
      state.events.push(event);
      if (event.nodeId) refresh(event.nodeId).catch(() => {});
    },
  });
  live.start();
  return () => { clearInterval(timer); live.stop(); state.live = "offline"; };
}

function tick(el) {
  const { text, overdue, soon } = countdown(el.dataset.due || null);
  el.textContent = text;
  el.classList.toggle("overdue", overdue);
  el.classList.toggle("soon", Boolean(soon));
}

// --------------------------------------------------------------------------- dashboards

function monthLabel(iso) {
  return new Date(iso).toLocaleDateString(undefined, { month: "short", year: "2-digit", timeZone: "UTC" });
}

function chart(name, title, note) {
  const body = h("div", { class: "chart-body" }, h("p", { class: "muted" }, "Loading…"));
  const figure = h("figure", { class: "chart", "data-chart": name }, h("figcaption", {}, title), body, note ? h("p", { class: "muted small" }, note) : null);
  return { figure, show: (...nodes) => clear(body, ...nodes), fail: (error) => clear(body, problem(error)) };
}

function dashboardsView() {
  const grid = h("div", { class: "charts" });
  clear(app, h("h1", {}, "Dashboards"), grid);
  const add = (...args) => { const c = chart(...args); grid.append(c.figure); return c; };

  if (enabled("segmentation")) {
    const tiers = add("tiers", "Customers per value tier");
    const stages = add("stages", "Customers per lifecycle stage");
    const abc = add("abc", "Revenue share by ABC class");
    request("SegmentationDashboard").then(({ segmentationSummary: s }) => {
      const sorted = (groups, order) => [...groups].sort((a, b) => order.indexOf(a.key) - order.indexOf(b.key));
      const tiersSorted = sorted(s.tiers, ["CORE", "POTENTIAL", "GENERAL"]);
      tiers.show(barChart({ title: "Customers per value tier", labels: tiersSorted.map((g) => label(g.key)), values: tiersSorted.map((g) => g.customers) }));
      const stagesSorted = sorted(s.stages, ["PROSPECT", "NEW", "ACTIVE", "LOYAL", "AT_RISK", "CHURNED"]);
      stages.show(barChart({ title: "Customers per lifecycle stage", labels: stagesSorted.map((g) => label(g.key)),
        values: stagesSorted.map((g) => g.customers), color: COLORS[2] }));
      abc.show(shareChart({ title: "Revenue share by ABC class", labels: s.abcClasses.map((g) => g.key),
        shares: s.abcClasses.map((g) => Number(g.revenueShare)) }));
    }).catch((error) => [tiers, stages, abc].forEach((c) => c.fail(error)));
  }

  if (enabled("surveys")) {
    const satisfaction = add("satisfaction", "NPS and CSAT trend", "NPS −100…100, CSAT % satisfied, per month");
    (async () => {
      const surveys = (await request("Surveys")).surveys.edges.map((e) => e.node);
      const survey = surveys.find((s) => s.status !== "DRAFT") || surveys[0];
      if (!survey) return satisfaction.show(h("p", { class: "muted" }, "No surveys yet."));
      const from = new Date(); from.setUTCFullYear(from.getUTCFullYear() - 1);
      const { surveyResults: r } = await request("SurveyTrend", { id: survey.id, period: { from: from.toISOString() } });
      const labels = r.trend.map((p) => monthLabel(p.periodStart));
      satisfaction.show(lineChart({ title: `NPS and CSAT: ${survey.title}`, labels, min: -100, max: 100,
        series: [{ name: "NPS", values: r.trend.map((p) => p.nps) }, { name: "CSAT %", values: r.trend.map((p) => p.csat) }] }));
    })().catch((error) => satisfaction.fail(error));
  }

  if (enabled("complaints")) {
    const complaints = add("complaints", "Complaint volume and SLA compliance", "Complaints received per month; % of them that met every deadline");
    const periods = {};
    const now = new Date();
    for (let i = 0; i < 6; i++) {
      const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 5 + i, 1));
      const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 4 + i, 1));
      periods[`p${i}`] = { start: start.toISOString(), end: end.toISOString() };
    }
    request("ComplaintDashboard", periods).then((data) => {
      const months = [0, 1, 2, 3, 4, 5].map((i) => data[`m${i}`]);
      complaints.show(barLineChart({ title: "Complaint volume and SLA compliance", labels: months.map((m) => monthLabel(m.start)),
        bars: { name: "complaints", values: months.map((m) => m.total) },
        line: { name: "SLA met %", values: months.map((m) => m.slaCompliancePercent), max: 100, format: (v) => `${Math.round(v)}%` } }));
    }).catch((error) => complaints.fail(error));
  }

  if (enabled("loyalty")) {
    const liability = add("liability", "Loyalty points liability", "Value of points held by members at each month's end");
    const from = new Date(); from.setUTCMonth(from.getUTCMonth() - 11, 1); from.setUTCHours(0, 0, 0, 0);
    request("LoyaltyDashboard", { from: from.toISOString() }).then(({ loyaltySummary: l }) => {
      liability.show(barChart({ title: "Loyalty points liability", labels: l.periods.map((p) => monthLabel(p.start)),
        values: l.periods.map((p) => Number(p.outstandingValue)), color: COLORS[4], format: (v) => formatNumber(v) }),
        h("p", { class: "muted small" }, `Now: ${formatNumber(l.outstanding)} points, worth ${formatNumber(l.outstandingValue, 2)}`));
    }).catch((error) => liability.fail(error));
  }
  if (!grid.children.length) grid.append(h("p", { class: "muted" }, "Enable segmentation, surveys, complaints or loyalty to see charts."));
  return () => {};
}

// --------------------------------------------------------------------------- routing

async function route() {
  cleanup();
  cleanup = () => {};
  const path = location.hash.replace(/^#/, "") || "/customers";
  if (!session.token) {
    state.view = "signin";
    header();
    return signInView();
  }
  if (!state.viewer) {
    try { await loadViewer(); } catch (error) { session.token = null; return route(); }
  }
  header();
  const [, section, id] = path.split("/");
  state.view = section;
  if (section === "customers" && id) cleanup = customerView(decodeURIComponent(id)) || cleanup;
  else if (section === "complaints" && enabled("complaints")) cleanup = boardView();
  else if (section === "dashboards") cleanup = dashboardsView();
  else { state.view = "customers"; cleanup = customersView(); }
}

window.addEventListener("hashchange", route);
loadManifest().then(route).catch((error) => clear(app, problem(error)));
