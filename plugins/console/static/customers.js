// The customer list (filters, order, pages; a table that becomes a list on a
// phone) and the form that creates or edits a customer.

import { actionForm, clear, field, fillPager, h, problem, select } from "./dom.js";
import { hasOperation, mutate, request } from "./gql.js";
import { formatDate, label, t } from "./i18n.js";
import { can, enabled, sees, state } from "./state.js";

const PAGE = 20;
const query = { search: "", kind: "", valueTier: "", lifecycleStage: "", abcClass: "", order: "", cursors: [null] };

// Name order only for a viewer who sees names in clear: the server refuses it
// otherwise (the order of masked names would tell them apart).
function orders() {
  return [
    sees("Customer.name") && ["NAME:ASC", t("customers.order.name")],
    ["LAST_INTERACTION_AT:DESC", t("customers.order.recent")],
    ["CREATED_AT:DESC", t("customers.order.newest")],
  ].filter(Boolean);
}

export function customersView(app) {
  const q = query;
  if (!orders().some(([value]) => value === q.order)) q.order = orders()[0][0];
  const results = h("div", { class: "results" }, h("p", { class: "muted" }, t("common.loading")));
  const pager = h("div", { class: "pager" });
  const reload = () => { q.cursors = [null]; load(); };
  let timer;

  const filterSelect = (name, enumName, values, title) => {
    const el = select(name, values.map((v) => [v, label(enumName, v)]), { value: q[name], label: title, empty: title });
    el.dataset.read = "";
    el.addEventListener("change", () => { q[name] = el.value; reload(); });
    return el;
  };
  const search = h("input", {
    type: "search", name: "search", placeholder: t("customers.search"), "aria-label": t("customers.search"), value: q.search, "data-read": "",
    oninput: (e) => { clearTimeout(timer); timer = setTimeout(() => { q.search = e.target.value.trim(); reload(); }, 250); },
  });
  const order = select("order", orders(), { value: q.order, label: t("customers.order.label") });
  order.dataset.read = "";
  order.addEventListener("change", () => { q.order = order.value; reload(); });
  const filters = h("div", { class: "filters", role: "search" },
    search,
    filterSelect("kind", "CustomerKind", ["PERSON", "ORGANIZATION"], t("customers.filter.kind")),
    enabled("segmentation") && [
      filterSelect("valueTier", "ValueTier", ["CORE", "POTENTIAL", "GENERAL"], t("customers.filter.valueTier")),
      filterSelect("lifecycleStage", "LifecycleStage", ["PROSPECT", "NEW", "ACTIVE", "LOYAL", "AT_RISK", "CHURNED"], t("customers.filter.stage")),
      filterSelect("abcClass", "AbcClass", ["A", "B", "C"], t("customers.filter.abc")),
    ],
    order);

  async function load() {
    const filter = {};
    if (q.search) filter.search = q.search;
    if (q.kind) filter.kinds = [q.kind];
    for (const key of ["valueTier", "lifecycleStage", "abcClass"]) if (q[key]) filter[key] = q[key];
    const [fieldName, direction] = q.order.split(":");
    try {
      const data = await request("Customers", { first: PAGE, after: q.cursors[q.cursors.length - 1], filter, orderBy: { field: fieldName, direction } });
      render(data.customers);
    } catch (error) {
      clear(results, problem(error));
      clear(pager);
    }
  }

  function render(connection) {
    const columns = [t("customer.name"), t("customer.kind.label"), t("customer.email"), t("customer.region"),
      t("customer.owner"), t("customer.lastContact"), t("customer.tags")];
    const cell = (i, content, props = {}) => h("td", { "data-label": columns[i], ...props }, content);
    const rows = connection.edges.map(({ node }) => h("tr", { "data-id": node.id },
      cell(0, h("a", { href: `#/customers/${encodeURIComponent(node.id)}`, class: "customer-link" }, node.name), { class: "primary" }),
      cell(1, label("CustomerKind", node.kind)),
      cell(2, node.email || "—", { class: "email" }),
      cell(3, node.region || "—"),
      cell(4, node.owner?.name || "—"),
      cell(5, formatDate(node.lastInteractionAt, false)),
      cell(6, node.tags.length ? node.tags.map((tag) => h("span", { class: "tag" }, tag)) : "—")));
    clear(results, connection.totalCount === 0 ? h("p", { class: "muted empty" }, t("customers.none")) :
      h("table", { class: "customers responsive" },
        h("caption", { class: "sr" }, t("customers.title")),
        h("thead", {}, h("tr", {}, columns.map((text) => h("th", { scope: "col" }, text)))),
        h("tbody", {}, rows)));
    fillPager(pager, connection, { cursors: q.cursors, pageSize: PAGE, rangeKey: "customers.range", load });
  }

  clear(app,
    h("div", { class: "page-head" }, h("h1", {}, t("customers.title")),
      can("customers.create") && hasOperation("CreateCustomer")
        ? h("a", { class: "button", href: "#/customers/new", "data-permission": "customers.create" }, t("customers.new")) : null),
    filters, results, pager);
  load();
  return () => clearTimeout(timer);
}

// --------------------------------------------------------------------------- the form

const TEXT_FIELDS = ["name", "email", "phone", "region", "industry"];

export function customerFormView(app, id) {
  const creating = id === null;
  const holder = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  clear(app,
    h("p", {}, h("a", { href: creating ? "#/customers" : `#/customers/${encodeURIComponent(id)}` }, t(creating ? "customers.back" : "customer.back"))),
    h("h1", {}, t(creating ? "customers.new" : "customer.edit")),
    holder);
  (async () => {
    let current = null;
    if (!creating) {
      try {
        current = (await request("Customer", { id })).customer;
      } catch (error) {
        return clear(holder, problem(error));
      }
      if (!current) return clear(holder, h("p", {}, t("customer.notFound")));
    }
    let owners = [];
    if (creating && can("customers.assign") && hasOperation("AccountOwners")) {
      owners = (await request("AccountOwners")).accountOwners.edges.map((e) => e.node);
    }
    clear(holder, customerForm(current, owners));
  })().catch((error) => clear(holder, problem(error)));
  return () => {};
}

function customerForm(current, owners) {
  const initial = {
    name: current?.name || "", kind: current?.kind || "PERSON", email: current?.email || "", phone: current?.phone || "",
    address: current?.address || "", region: current?.region || "", industry: current?.industry || "",
    tags: (current?.tags || []).join(", "),
  };
  const input = (name, type = "text", extra = {}) => h("input", { type, name, value: initial[name], ...extra });
  const inputs = {
    name: input("name", "text", { autocomplete: "off" }),
    kind: select("kind", ["PERSON", "ORGANIZATION"].map((k) => [k, label("CustomerKind", k)]), { value: initial.kind }),
    email: input("email", "email", { autocomplete: "off" }),
    phone: input("phone", "tel", { autocomplete: "off" }),
    address: h("textarea", { name: "address", rows: 2 }, initial.address),
    region: input("region"),
    industry: input("industry"),
    tags: input("tags"),
  };
  const owner = owners.length
    ? select("ownerId", owners.map((o) => [o.id, o.team ? `${o.name} (${o.team})` : o.name]), { value: state.viewer.id, empty: t("customer.unassigned") })
    : null;
  const duplicate = h("div", { class: "duplicate", hidden: true });
  const permission = current ? "customers.update" : "customers.create";
  let allowDuplicate = false; // set by "create anyway" for the next submit only
  const form = actionForm({
    permission,
    submitText: t(current ? "common.save" : "customers.create"),
    fields: [
      field(t("customer.name"), inputs.name, { name: "name", required: true }),
      field(t("customer.kind.label"), inputs.kind, { name: "kind" }),
      h("div", { class: "field-row" },
        field(t("customer.email"), inputs.email, { name: "email" }),
        field(t("customer.phone"), inputs.phone, { name: "phone" })),
      field(t("customer.address"), inputs.address, { name: "address" }),
      h("div", { class: "field-row" },
        field(t("customer.region"), inputs.region, { name: "region" }),
        field(t("customer.industry"), inputs.industry, { name: "industry" })),
      field(t("customer.tags"), inputs.tags, { name: "tags", hint: t("customer.tagsHint") }),
      owner ? field(t("customer.owner"), owner, { name: "ownerId" }) : null,
      duplicate,
    ],
    onSubmit: async () => {
      const deliberate = allowDuplicate;
      allowDuplicate = false;
      const values = {};
      for (const [name, el] of Object.entries(inputs)) values[name] = el.value.trim();
      const tags = values.tags.split(/[,，、;；]/).map((tag) => tag.trim()).filter(Boolean);
      const data = { ...values, tags };
      for (const name of [...TEXT_FIELDS, "address"]) if (data[name] === "") data[name] = null;
      let payload;
      if (current) {
        // Only what changed: a value shown masked is never written back.
        const changed = { id: current.id };
        for (const name of Object.keys(inputs)) if (values[name] !== initial[name]) changed[name] = data[name];
        if (changed.name === null) changed.name = "";
        if (deliberate) changed.allowDuplicate = true;
        payload = await mutate("UpdateCustomer", { input: changed });
      } else {
        if (data.name === null) data.name = "";
        if (owner?.value) data.ownerId = owner.value;
        if (deliberate) data.allowDuplicate = true;
        payload = await mutate("CreateCustomer", { input: data });
      }
      showDuplicate(duplicate, payload, permission, () => { allowDuplicate = true; form.requestSubmit(); });
      if (!payload.userErrors.length) location.hash = `#/customers/${encodeURIComponent(payload.customer.id)}`;
      // The server's sentence names the other record by its id: the form shows the record itself.
      return payload.userErrors.map((e) => (e.code === "DUPLICATE_CUSTOMER" ? { ...e, message: "" } : e));
    },
  });
  return form;
}

// The duplicate check's answer (DUPLICATE_CUSTOMER: a customer the viewer may see
// has this e-mail or phone): the existing records, and "create anyway" for a
// namesake who really is someone else.
function showDuplicate(box, payload, permission, createAnyway) {
  const found = payload.userErrors.some((e) => e.code === "DUPLICATE_CUSTOMER");
  box.hidden = !found;
  if (!found) return box.replaceChildren();
  const creating = permission === "customers.create";
  clear(box,
    h("p", {}, t("customer.duplicate")),
    h("ul", { class: "plain" }, (payload.duplicates || []).map((c) => h("li", { "data-id": c.id },
      h("a", { href: `#/customers/${encodeURIComponent(c.id)}` }, c.name),
      h("span", { class: "muted small" }, ` · ${[c.email, c.phone, c.owner?.name].filter(Boolean).join(" · ")}`)))),
    h("p", { class: "hint" }, t("customer.duplicateHint")),
    h("button", { type: "button", class: "secondary", "data-permission": permission, onclick: createAnyway },
      t(creating ? "customer.createAnyway" : "customer.saveAnyway")));
}
