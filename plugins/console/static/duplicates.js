// Duplicate customers: the review list (pairs to merge or dismiss), the merge
// screen (which record remains, which value of each field it keeps), and the
// panel on a customer's page naming its possible duplicates.

import { actionForm, clear, errorText, field, fillPager, h, openDialog, problem, select } from "./dom.js";
import { hasOperation, mutate, request } from "./gql.js";
import { formatDate, label, named, t } from "./i18n.js";
import { can } from "./state.js";

const PAGE = 20;
const MERGE = "customers.merge";
const query = { status: "OPEN", cursors: [null] };

export const canReviewDuplicates = () => can(MERGE) && hasOperation("DuplicateCandidates") && hasOperation("MergeCustomers");

export const mergeLink = (ids) => `#/duplicates/merge/${ids.map(encodeURIComponent).join(",")}`;

// --------------------------------------------------------------------------- the review list

export function duplicatesView(app) {
  const q = query;
  const status = h("p", { class: "status-line", role: "status" });
  const results = h("div", { class: "results" }, h("p", { class: "muted" }, t("common.loading")));
  const pager = h("div", { class: "pager" });
  const show = select("status", ["OPEN", "DISMISSED"].map((s) => [s, label("DuplicateStatus", s)]),
    { value: q.status, label: t("duplicates.filter.label") });
  show.dataset.read = "";
  show.addEventListener("change", () => { q.status = show.value; q.cursors = [null]; status.textContent = ""; load(); });

  async function load() {
    try {
      const data = await request("DuplicateCandidates", { first: PAGE, after: q.cursors[q.cursors.length - 1], filter: { status: q.status } });
      render(data.duplicateCandidates);
    } catch (error) {
      clear(results, problem(error));
      clear(pager);
    }
  }

  const done = (message) => { status.textContent = message; load(); };

  function render(connection) {
    clear(results, connection.totalCount === 0
      ? h("p", { class: "muted empty" }, t("duplicates.none"))
      : h("ul", { class: "plain pairs" }, connection.edges.map(({ node }) => pairItem(node, done))));
    fillPager(pager, connection, { cursors: q.cursors, pageSize: PAGE, rangeKey: "duplicates.range", load });
  }

  clear(app,
    h("div", { class: "page-head" }, h("h1", {}, t("duplicates.title")), show),
    h("p", { class: "muted" }, t("duplicates.intro")),
    status, results, pager);
  load();
  return () => {};
}

function pairItem(pair, done) {
  const open = pair.status === "OPEN";
  const decided = pair.decidedAt
    ? h("p", { class: "muted small" }, t("duplicates.decided", { name: pair.decidedBy?.name || "—", when: formatDate(pair.decidedAt, false) }),
        pair.note ? [" · ", h("q", {}, pair.note)] : null)
    : null;
  return h("li", { class: "pair", "data-id": pair.id, "data-status": pair.status },
    h("div", { class: "pair-head" },
      h("strong", { class: "score" }, t("duplicates.score", { score: pair.score })),
      h("span", { class: "chips" }, pair.reasons.map((r) => h("span", { class: "chip", "data-reason": r }, label("DuplicateReason", r)))),
      h("span", { class: "muted small" }, `${label("DuplicateSource", pair.source)} · ${t("duplicates.found", { when: formatDate(pair.foundAt, false) })}`)),
    h("div", { class: "pair-customers" }, pair.customers.map(customerSummary)),
    decided,
    h("div", { class: "actions-bar" },
      open ? [
        h("a", { class: "button", href: mergeLink(pair.customers.map((c) => c.id)), "data-permission": MERGE }, t("duplicates.compare")),
        h("button", { type: "button", class: "secondary", "data-permission": MERGE, onclick: () => dismissDialog(pair, done) }, t("duplicates.dismiss")),
      ] : h("button", { type: "button", class: "secondary", "data-permission": MERGE, onclick: async (event) => {
        event.target.disabled = true;
        try {
          const payload = await mutate("ReopenDuplicateCandidate", { input: { id: pair.id } });
          done(payload.userErrors.length ? payload.userErrors.map(errorText).join(" ") : t("duplicates.reopened"));
        } catch (error) {
          done(problem(error).textContent);
        }
      } }, t("duplicates.reopen"))));
}

function customerSummary(c) {
  const lines = [label("CustomerKind", c.kind), c.email, c.phone, c.region, c.owner?.name, formatDate(c.createdAt, false)].filter(Boolean);
  return h("div", { class: "pair-customer" },
    h("a", { href: `#/customers/${encodeURIComponent(c.id)}` }, c.name),
    c.archivedAt ? h("span", { class: "badge" }, t("customer.archived")) : null,
    h("div", { class: "muted small" }, lines.join(" · ")));
}

function dismissDialog(pair, done) {
  openDialog(t("duplicates.dismiss.title"), (close) => {
    const note = h("textarea", { name: "note", rows: 2, maxlength: 500 });
    return actionForm({
      permission: MERGE,
      submitText: t("duplicates.dismiss.submit"),
      fields: [
        h("p", {}, pair.customers.map((c) => c.name).join(" / ")),
        field(t("duplicates.dismiss.note"), note, { name: "note" }),
      ],
      onSubmit: async () => {
        const payload = await mutate("DismissDuplicateCandidate", { input: { id: pair.id, note: note.value.trim() || null } });
        if (!payload.userErrors.length) { close(); done(t("duplicates.dismissed")); }
        return payload.userErrors;
      },
    });
  });
}

// --------------------------------------------------------------------------- the merge screen

// The fields a merge chooses a value for (MergeCustomerFieldsInput), with what the
// screen shows of each record's value.
const FIELDS = [
  ["name", "customer.name", (c) => c.name],
  ["kind", "customer.kind.label", (c) => label("CustomerKind", c.kind)],
  ["email", "customer.email", (c) => c.email],
  ["phone", "customer.phone", (c) => c.phone],
  ["address", "customer.address", (c) => c.address],
  ["region", "customer.region", (c) => c.region],
  ["industry", "customer.industry", (c) => c.industry],
  ["externalId", "customer.externalId", (c) => c.externalId],
  ["ownerId", "customer.owner", (c) => c.owner?.name],
  ["tags", "customer.tags", (c) => c.tags.join(", ")],
];

export function mergeView(app, idsText) {
  const ids = [...new Set(idsText.split(",").filter(Boolean))];
  const holder = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  clear(app, h("p", {}, h("a", { href: "#/duplicates" }, t("merge.back"))), h("h1", {}, t("merge.title")), holder);
  if (ids.length < 2) {
    clear(holder, h("p", {}, t("merge.tooFew")));
    return () => {};
  }
  Promise.all(ids.map((id) => request("CustomerForMerge", { id }).then((data) => data.customer)))
    .then((records) => {
      if (records.some((c) => !c)) return clear(holder, h("p", {}, t("merge.notFound")));
      // The oldest record remains by default (the customer since the earliest date).
      records.sort((a, b) => new Date(a.createdAt) - new Date(b.createdAt));
      clear(holder, mergeForm(records, holder));
    })
    .catch((error) => clear(holder, problem(error)));
  return () => {};
}

function mergeForm(records, holder) {
  let survivor = records.find((c) => !c.archivedAt) || records[0];
  const choice = {}; // field -> the id whose value the survivor keeps ("" for tags: all of them)
  const empty = (value) => value === null || value === undefined || value === "";
  const differs = ([, , show]) => new Set(records.map((c) => show(c) ?? "")).size > 1;
  // As the server decides without a choice: the survivor's value, or the first
  // other record's where the survivor has none.
  const defaults = () => {
    for (const [name, , show] of FIELDS) {
      if (name === "tags") { choice.tags = ""; continue; }
      const order = [survivor, ...records.filter((c) => c !== survivor)];
      choice[name] = (order.find((c) => !empty(show(c))) || survivor).id;
    }
  };
  defaults();

  const table = h("table", { class: "merge" });
  const draw = () => {
    const radio = (name, value, text, checked, onchange) => h("label", { class: "check" },
      h("input", { type: "radio", name, value, checked: checked ? true : null, onchange }), text);
    const head = h("tr", {}, h("th", { scope: "col" }, t("merge.field")), records.map((c) => h("th", { scope: "col", "data-id": c.id },
      h("a", { href: `#/customers/${encodeURIComponent(c.id)}` }, c.name),
      c.archivedAt ? h("span", { class: "badge" }, t("customer.archived")) : null,
      h("div", { class: "muted small" }, `${t("merge.interactions", { count: c.interactions.totalCount })} · ${formatDate(c.createdAt, false)}`),
      c.archivedAt ? null : radio("survivor", c.id, t("merge.keep"), c === survivor, () => { survivor = c; defaults(); draw(); }))));
    const rows = FIELDS.map((spec) => {
      const [name, key, show] = spec;
      const cells = records.map((c) => {
        const value = show(c);
        const text = empty(value) ? t("merge.empty") : value;
        if (!differs(spec)) return h("td", { "data-label": c.name }, text);
        const input = radio(`field-${name}`, c.id, text, choice[name] === c.id, () => { choice[name] = c.id; });
        return h("td", { "data-label": c.name }, input);
      });
      const combined = name === "tags" && differs(spec)
        ? radio("field-tags", "", t("merge.tags.combined"), choice.tags === "", () => { choice.tags = ""; }) : null;
      return h("tr", { "data-field": name }, h("th", { scope: "row" }, t(key), combined ? h("div", {}, combined) : null), cells);
    });
    clear(table, h("caption", { class: "sr" }, t("merge.title")), h("thead", {}, head), h("tbody", {}, rows));
  };
  draw();

  return actionForm({
    permission: MERGE,
    submitText: t("merge.submit"),
    className: "merge-form",
    fields: [h("p", { class: "muted" }, t("merge.intro")), h("div", { class: "merge-wrap" }, table)],
    onSubmit: async () => { confirmMerge(records, survivor, choice, holder); return []; },
  });
}

function confirmMerge(records, survivor, choice, holder) {
  const merged = records.filter((c) => c !== survivor);
  openDialog(t("merge.confirm.title", { count: merged.length, name: survivor.name }), (close) => actionForm({
    permission: MERGE,
    submitText: t("merge.confirm.submit"),
    fields: [h("p", {}, t("merge.confirm.text", { name: survivor.name }))],
    onSubmit: async () => {
      const fields = {};
      for (const [name] of FIELDS) if (choice[name]) fields[name] = choice[name];
      const payload = await mutate("MergeCustomers", { input: { survivorId: survivor.id, mergedIds: merged.map((c) => c.id), fields } });
      if (!payload.userErrors.length) { close(); clear(holder, mergeResult(payload)); }
      return payload.userErrors;
    },
  }));
}

function mergeResult(payload) {
  const c = payload.customer;
  const part = (name) => (name === "core" ? t("merge.part.core") : name);
  return [
    h("p", { class: "status-line", role: "status" }, t("merge.done", { name: c.name })),
    h("h2", {}, t("merge.moved")),
    payload.moved.length
      ? h("ul", { class: "plain moved" }, payload.moved.map((m) => h("li", { "data-part": m.part, "data-item": m.item },
          `${named("merge.item", m.item)}: ${m.count}`, h("span", { class: "muted small" }, ` · ${part(m.part)}`))))
      : h("p", { class: "muted" }, t("merge.nothingMoved")),
    h("p", {}, h("a", { class: "button", href: `#/customers/${encodeURIComponent(c.id)}`, "data-read": "" }, t("merge.open", { name: c.name }))),
  ];
}

// --------------------------------------------------------------------------- the customer page's panel

export function duplicatesPanel(customer) {
  if (!canReviewDuplicates() || customer.archivedAt) return null;
  // The panel appears only when there is something to review.
  const slot = h("div", { class: "panel-slot" });
  request("DuplicateCandidates", { first: 5, filter: { customerId: customer.id } })
    .then((data) => {
      const edges = data.duplicateCandidates.edges;
      if (!edges.length) return;
      clear(slot, h("section", { class: "panel", "data-panel": "duplicates", "aria-labelledby": "panel-duplicates" },
        h("h2", { id: "panel-duplicates" }, t("duplicates.panel.title")),
        h("ul", { class: "plain" }, edges.map(({ node }) => {
          const other = node.customers.find((c) => c.id !== customer.id) || node.customers[0];
          return h("li", {},
            h("a", { href: `#/customers/${encodeURIComponent(other.id)}` }, other.name), " · ",
            h("span", {}, t("duplicates.score", { score: node.score })), " ",
            h("span", { class: "muted small" }, node.reasons.map((r) => label("DuplicateReason", r)).join(t("common.listSeparator"))),
            h("div", {}, h("a", { class: "button secondary small", href: mergeLink([customer.id, other.id]), "data-permission": MERGE }, t("duplicates.compare"))));
        }))));
    })
    .catch(() => clear(slot));
  return slot;
}
