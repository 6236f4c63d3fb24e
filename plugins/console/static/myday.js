// "My day": what an account manager works through each morning — follow-ups due
// today or overdue, complaints about to breach their SLA, customers who have just
// become "at risk" — each one click from the customer.

import { logInteractionDialog } from "./customer.js";
import { clear, h, problem } from "./dom.js";
import { hasOperation, request } from "./gql.js";
import { formatDate, formatRelative, label, named, t } from "./i18n.js";
import { canRun, enabled } from "./state.js";

const SLA_WINDOW_HOURS = 24;
const AT_RISK_DAYS = 14;

function endOfToday() {
  const end = new Date();
  end.setHours(24, 0, 0, 0);
  return end;
}

function section(name, title, body) {
  return h("section", { class: "panel day-section", "data-section": name, "aria-labelledby": `day-${name}` },
    h("h2", { id: `day-${name}` }, title), body);
}

const customerLink = (customer) =>
  customer ? h("a", { class: "customer-link", href: `#/customers/${encodeURIComponent(customer.id)}` }, customer.name) : "—";

export function myDayView(app) {
  const followUps = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  const complaints = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  const atRisk = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  const today = new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "full" }).format(new Date());
  clear(app,
    h("div", { class: "page-head" }, h("h1", {}, t("myDay.title")), h("p", { class: "muted" }, today)),
    h("div", { class: "day" },
      section("follow-ups", t("myDay.followUps.title"), followUps),
      enabled("complaints") && hasOperation("MyDayComplaints") ? section("complaints", t("myDay.complaints.title", { hours: SLA_WINDOW_HOURS }), complaints) : null,
      enabled("segmentation") && hasOperation("MyDayAtRisk") ? section("at-risk", t("myDay.atRisk.title", { days: AT_RISK_DAYS }), atRisk) : null));

  const loadFollowUps = async () => {
    const start = new Date(); start.setHours(0, 0, 0, 0);
    const data = await request("MyDay", { dueBefore: endOfToday().toISOString() });
    const items = data.interactions.edges.map((e) => e.node);
    if (!items.length) return clear(followUps, h("p", { class: "muted empty" }, t("myDay.followUps.none")));
    clear(followUps, h("ul", { class: "plain day-list" }, items.map((i) => {
      const overdue = new Date(i.nextFollowUpAt) < start;
      return h("li", { "data-overdue": overdue ? "true" : "false" },
        h("div", { class: "day-item" },
          customerLink(i.customer),
          h("span", { class: overdue ? "badge danger" : "badge" }, t(overdue ? "myDay.followUps.overdue" : "myDay.followUps.today")),
          h("span", { class: "muted" }, `${formatDate(i.nextFollowUpAt)} (${formatRelative(i.nextFollowUpAt)})`)),
        h("div", { class: "muted" }, t("myDay.followUps.after", { kind: label("InteractionKind", i.kind), when: formatDate(i.occurredAt, false) }),
          i.subject ? ` — ${i.subject}` : ""),
        canRun("interactions.log", "LogInteraction")
          ? h("button", { type: "button", class: "secondary small", "data-permission": "interactions.log",
              onclick: () => logInteractionDialog(i.customer, () => loadFollowUps().catch((error) => clear(followUps, problem(error)))) },
            t("myDay.followUps.log")) : null);
    })));
  };
  loadFollowUps().catch((error) => clear(followUps, problem(error)));

  if (enabled("complaints") && hasOperation("MyDayComplaints")) {
    request("MyDayComplaints", { withinHours: SLA_WINDOW_HOURS }).then((data) => {
      const seen = new Set();
      const items = [...data.late.edges, ...data.soon.edges].map((e) => e.node).filter((c) => !seen.has(c.id) && seen.add(c.id));
      if (!items.length) return clear(complaints, h("p", { class: "muted empty" }, t("myDay.complaints.none")));
      clear(complaints, h("ul", { class: "plain day-list" }, items.map((c) => {
        const overdue = new Date(c.nextDueAt) < new Date();
        return h("li", { "data-overdue": overdue ? "true" : "false" },
          h("div", { class: "day-item" }, customerLink(c.customer),
            h("span", { class: overdue ? "badge danger" : "badge warn" },
              overdue ? t("myDay.complaints.breached") : t("myDay.complaints.dueIn", { when: formatRelative(c.nextDueAt) }))),
          h("div", { class: "muted" }, `${named("complaints.category", c.category)} · ${label("ComplaintStatus", c.status)} · ${label("ComplaintPriority", c.priority)}`));
      })));
    }).catch((error) => clear(complaints, problem(error)));
  }

  if (enabled("segmentation") && hasOperation("MyDayAtRisk")) {
    const since = new Date(Date.now() - AT_RISK_DAYS * 86400000);
    request("MyDayAtRisk", { since: since.toISOString() }).then((data) => {
      const items = data.customers.edges.map((e) => e.node);
      if (!items.length) return clear(atRisk, h("p", { class: "muted empty" }, t("myDay.atRisk.none")));
      clear(atRisk, h("ul", { class: "plain day-list" }, items.map((c) => h("li", {},
        h("div", { class: "day-item" }, customerLink(c),
          h("span", { class: "muted" }, t("myDay.atRisk.lastContact", { when: formatDate(c.lastInteractionAt, false) })))))));
    }).catch((error) => clear(atRisk, problem(error)));
  }
  return () => {};
}
