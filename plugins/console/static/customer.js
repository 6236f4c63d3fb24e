// One customer: details, the interaction timeline, the enabled plugins' panels,
// and the work a role may do here — edit, log an interaction with a follow-up,
// file and move complaints, award or redeem points.

import { actionForm, append, clear, field, fromLocalInput, h, localInput, newKey, openDialog, problem, select } from "./dom.js";
import { complaintCard, fileComplaintDialog } from "./complaints.js";
import { duplicatesPanel } from "./duplicates.js";
import { hasOperation, mutate, request } from "./gql.js";
import { formatDate, formatMoney, formatNumber, label, named, t } from "./i18n.js";
import { can, canRun, enabled } from "./state.js";

const KINDS = ["CALL", "VISIT", "EMAIL", "MEETING", "MESSAGE", "PURCHASE", "NOTE"];

export function customerView(app, id) {
  const status = h("p", { class: "status-line", role: "status" });
  const actions = h("div", { class: "actions-bar" });
  const main = h("div", { class: "customer-main" }, h("p", { class: "muted" }, t("common.loading")));
  const side = h("div", { class: "customer-side" });
  clear(app, h("p", {}, h("a", { href: "#/customers" }, t("customers.back"))), status,
    h("div", { class: "customer" }, main, side));

  const done = (message) => { status.textContent = message; render(); };

  async function render() {
    let data;
    try {
      data = await request("Customer", { id });
    } catch (error) {
      return clear(main, problem(error));
    }
    const c = data.customer;
    if (!c) return clear(main, h("h1", {}, t("customer.notFoundTitle")), h("p", {}, t("customer.notFound")));
    clear(actions, actionButtons(c, done));
    const details = [
      [t("customer.kind.label"), label("CustomerKind", c.kind)], [t("customer.email"), c.email], [t("customer.phone"), c.phone],
      [t("customer.address"), c.address], [t("customer.region"), c.region], [t("customer.industry"), c.industry],
      [t("customer.owner"), c.owner ? (c.owner.team ? `${c.owner.name} (${c.owner.team})` : c.owner.name) : t("customer.unassigned")],
      [t("customer.since"), formatDate(c.createdAt, false)],
    ];
    const timeline = h("ol", { class: "timeline" });
    const more = h("button", { type: "button", class: "secondary", "data-read": "" }, t("customer.olderInteractions"));
    const addInteractions = (connection) => {
      append(timeline, connection.edges.map(({ node }) => interactionItem(node)));
      more.hidden = !connection.pageInfo.hasNextPage;
      more.onclick = async () => {
        const next = await request("Customer", { id, after: connection.pageInfo.endCursor });
        addInteractions(next.customer.interactions);
      };
    };
    addInteractions(c.interactions);
    clear(main,
      h("h1", {}, c.name, c.archivedAt ? h("span", { class: "badge" }, t("customer.archived")) : null),
      c.tags.length ? h("div", { class: "tags" }, c.tags.map((tag) => h("span", { class: "tag" }, tag))) : null,
      actions,
      h("dl", { class: "details" }, details.filter(([, v]) => v).map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
      h("h2", {}, t("customer.interactions", { count: c.interactions.totalCount })),
      c.interactions.totalCount ? timeline : h("p", { class: "muted" }, t("customer.noInteractions")),
      more);
    clear(side, [duplicatesPanel, segmentationPanel, loyaltyPanel, complaintsPanel, surveysPanel].map((panel) => panel(c, done)).filter(Boolean));
  }

  render();
  return () => {};
}

function interactionItem(node) {
  return h("li", { "data-kind": node.kind },
    h("div", { class: "when" }, formatDate(node.occurredAt)),
    h("div", {}, h("strong", {}, label("InteractionKind", node.kind)), " ",
      h("span", { class: "muted" }, label("Direction", node.direction)),
      node.amount !== null && node.amount !== undefined ? h("span", { class: "amount" }, ` ${formatMoney(node.amount)}`) : null),
    node.subject ? h("div", {}, node.subject) : null,
    node.notes ? h("div", { class: "notes" }, node.notes) : null,
    node.nextFollowUpAt ? h("div", { class: "follow-up" }, t("interaction.followUpOn", { when: formatDate(node.nextFollowUpAt) })) : null,
    node.owner ? h("div", { class: "muted" }, t("interaction.by", { name: node.owner.name })) : null);
}

// --------------------------------------------------------------------------- actions

function actionButtons(c, done) {
  if (c.archivedAt) return [];
  const button = (text, permission, onclick) => h("button", { type: "button", "data-permission": permission, onclick }, text);
  return [
    canRun("customers.update", "UpdateCustomer")
      ? h("a", { class: "button secondary", href: `#/customers/${encodeURIComponent(c.id)}/edit`, "data-permission": "customers.update" }, t("customer.edit")) : null,
    canRun("interactions.log", "LogInteraction")
      ? button(t("interaction.log"), "interactions.log", () => logInteractionDialog(c, () => done(t("interaction.logged")))) : null,
    enabled("complaints") && canRun("complaints.file", "FileComplaint")
      ? button(t("complaints.file.button"), "complaints.file", () => fileComplaintDialog(c, () => done(t("complaints.file.filed")))) : null,
    enabled("loyalty") && canRun("loyalty.award", "AwardPoints")
      ? button(t("loyalty.award.button"), "loyalty.award", () => awardDialog(c, done)) : null,
    enabled("loyalty") && canRun("loyalty.redeem", "RedeemReward")
      ? button(t("loyalty.redeem.button"), "loyalty.redeem", () => redeemDialog(c, done)) : null,
  ];
}

export function logInteractionDialog(customer, onLogged) {
  const key = newKey(); // a retried submit logs once
  openDialog(t("interaction.logFor", { name: customer.name }), (close) => {
    const kind = select("kind", KINDS.map((k) => [k, label("InteractionKind", k)]), { value: "CALL" });
    const direction = select("direction", ["OUTBOUND", "INBOUND", "INTERNAL"].map((d) => [d, label("Direction", d)]));
    const occurredAt = h("input", { type: "datetime-local", name: "occurredAt", value: localInput(new Date()) });
    const shownNow = occurredAt.value; // left as shown: "now" is the server's, to the second
    const subject = h("input", { type: "text", name: "subject" });
    const notes = h("textarea", { name: "notes", rows: 3 });
    const amount = h("input", { type: "text", name: "amount", inputmode: "decimal", autocomplete: "off", placeholder: "0.00" });
    const amountField = field(t("interaction.amount"), amount, { name: "amount", required: true });
    const followUp = h("input", { type: "datetime-local", name: "nextFollowUpAt" });
    const syncAmount = () => { amountField.hidden = kind.value !== "PURCHASE"; };
    kind.addEventListener("change", syncAmount);
    syncAmount();
    return actionForm({
      permission: "interactions.log",
      submitText: t("interaction.save"),
      fields: [
        h("div", { class: "field-row" },
          field(t("interaction.kind.label"), kind, { name: "kind" }),
          field(t("interaction.direction.label"), direction, { name: "direction" })),
        amountField,
        field(t("interaction.occurredAt"), occurredAt, { name: "occurredAt" }),
        field(t("interaction.subject"), subject, { name: "subject" }),
        field(t("interaction.notes"), notes, { name: "notes" }),
        field(t("interaction.nextFollowUpAt"), followUp, { name: "nextFollowUpAt", hint: t("interaction.nextFollowUpHint") }),
      ],
      onSubmit: async () => {
        const payload = await mutate("LogInteraction", { input: {
          customerId: customer.id, kind: kind.value, direction: direction.value,
          occurredAt: occurredAt.value === shownNow ? null : fromLocalInput(occurredAt.value), subject: subject.value.trim() || null, notes: notes.value || null,
          amount: kind.value === "PURCHASE" ? amount.value.trim().replace(/[,，\s]/g, "") || null : null,
          nextFollowUpAt: fromLocalInput(followUp.value), idempotencyKey: key,
        } });
        if (!payload.userErrors.length) { close(); onLogged?.(payload.interaction); }
        return payload.userErrors;
      },
    });
  });
}

function awardDialog(c, done) {
  const key = newKey();
  openDialog(t("loyalty.award.title", { name: c.name }), (close) => {
    const points = h("input", { type: "number", name: "points", min: 1, step: 1, inputmode: "numeric" });
    const reason = h("input", { type: "text", name: "reason" });
    return actionForm({
      permission: "loyalty.award",
      submitText: t("loyalty.award.submit"),
      fields: [field(t("loyalty.points"), points, { name: "points", required: true }), field(t("loyalty.reason"), reason, { name: "reason", required: true })],
      onSubmit: async () => {
        const payload = await mutate("AwardPoints", { input: { customerId: c.id, points: Number.parseInt(points.value || "0", 10), reason: reason.value, idempotencyKey: key } });
        if (!payload.userErrors.length) { close(); done(t("loyalty.award.done", { points: payload.entry.points })); }
        return payload.userErrors;
      },
    });
  });
}

async function redeemDialog(c, done) {
  const rewards = (await request("Rewards")).rewards.edges.map((e) => e.node);
  const key = newKey();
  openDialog(t("loyalty.redeem.title", { name: c.name }), (close) => {
    if (!rewards.length) return h("p", { class: "muted" }, t("loyalty.redeem.noRewards"));
    const reward = select("rewardId", rewards.map((r) => [r.id, t("loyalty.redeem.option", { name: r.name, points: r.pointsCost })]));
    return actionForm({
      permission: "loyalty.redeem",
      submitText: t("loyalty.redeem.submit"),
      fields: [field(t("loyalty.reward"), reward, { name: "rewardId" })],
      onSubmit: async () => {
        const payload = await mutate("RedeemReward", { input: { customerId: c.id, rewardId: reward.value, idempotencyKey: key } });
        if (!payload.userErrors.length) { close(); done(t("loyalty.redeem.done", { code: payload.voucher.code })); }
        return payload.userErrors;
      },
    });
  });
}

// --------------------------------------------------------------------------- panels

function panel(name, title, ...body) {
  return h("section", { class: "panel", "data-panel": name, "aria-labelledby": `panel-${name}` }, h("h2", { id: `panel-${name}` }, title), ...body);
}

function lazyPanel(plugin, name, title, operation, c, fill) {
  if (!enabled(plugin) || !hasOperation(operation)) return null;
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  request(operation, { id: c.id })
    .then((data) => clear(body, fill(data.customer)))
    .catch((error) => clear(body, problem(error)));
  return panel(name, title, body);
}

const segmentationPanel = (customer) => lazyPanel("segmentation", "segmentation", t("segmentation.panel.title"), "CustomerSegmentation", customer, (c) => {
  const s = c.segmentation;
  if (!s) return h("p", { class: "muted" }, t("segmentation.panel.notScored"));
  return [
    h("div", { class: "chips" },
      h("span", { class: `chip tier-${s.valueTier}` }, label("ValueTier", s.valueTier)),
      h("span", { class: "chip", "data-stage": s.lifecycleStage }, label("LifecycleStage", s.lifecycleStage)),
      s.abcClass ? h("span", { class: "chip" }, label("AbcClass", s.abcClass)) : null,
      h("span", { class: "chip" }, label("FrequencyClass", s.frequencyClass))),
    h("p", { class: "explanation" }, s.explanation),
    h("dl", { class: "details" },
      h("div", {}, h("dt", {}, t("segmentation.panel.rfm")), h("dd", {}, s.rfm.score || "—", s.rfm.segment ? ` (${named("segmentation.rfm", s.rfm.segment)})` : "")),
      h("div", {}, h("dt", {}, t("segmentation.panel.revenue")), h("dd", {}, formatMoney(s.clv.historical))),
      h("div", {}, h("dt", {}, t("segmentation.panel.clv")), h("dd", {}, formatMoney(s.clv.predicted)))),
    c.segments.length ? h("p", {}, t("segmentation.panel.segments"), " ", c.segments.map((g) => h("span", { class: "tag" }, g.name))) : null,
  ];
});

const loyaltyPanel = (customer) => lazyPanel("loyalty", "loyalty", t("loyalty.panel.title"), "CustomerLoyalty", customer, (c) => {
  const l = c.loyalty;
  const columns = [t("loyalty.ledger.when"), t("loyalty.ledger.what"), t("loyalty.points"), t("loyalty.ledger.balance")];
  return [
    h("p", { class: "big" }, h("span", { class: "balance" }, formatNumber(l.balance)), " ", t("loyalty.panel.points"), " · ",
      h("span", { class: "tier" }, named("loyalty.tier", l.tier.name))),
    l.nextTier ? h("p", { class: "muted" }, t("loyalty.panel.toNext", { points: l.pointsToNextTier ?? 0, tier: named("loyalty.tier", l.nextTier.name) })) : null,
    l.ledger.edges.length ? h("table", { class: "ledger responsive" },
      h("caption", { class: "sr" }, t("loyalty.ledger.title")),
      h("thead", {}, h("tr", {}, columns.map((text, i) => h("th", { scope: "col", class: i > 1 ? "num" : null }, text)))),
      h("tbody", {}, l.ledger.edges.map(({ node }) => h("tr", {},
        h("td", { "data-label": columns[0] }, formatDate(node.createdAt, false)),
        h("td", { "data-label": columns[1] }, node.reason || label("LoyaltyEntryKind", node.kind)),
        h("td", { "data-label": columns[2], class: node.points < 0 ? "neg num" : "num" }, formatNumber(node.points)),
        h("td", { "data-label": columns[3], class: "num" }, formatNumber(node.balanceAfter))))))
      : h("p", { class: "muted" }, t("loyalty.panel.noPoints")),
    l.vouchers.length ? [h("h3", {}, t("loyalty.vouchers")), h("ul", { class: "plain" }, l.vouchers.map((v) => h("li", {},
      h("strong", {}, v.reward.name), " · ", h("code", {}, v.code), ` · ${label("VoucherStatus", v.status)} · ${formatDate(v.issuedAt, false)}`)))] : null,
  ];
});

const complaintsPanel = (customer, done) => lazyPanel("complaints", "complaints", t("complaints.panel.title"), "CustomerComplaints", customer, (c) =>
  c.complaints.edges.length
    ? h("div", { class: "cards" }, c.complaints.edges.map(({ node }) =>
        complaintCard(node, { showCustomer: false, onMoved: () => done(t("complaints.move.done")) })))
    : h("p", { class: "muted" }, t("complaints.panel.none")));

// Each answer under its question's text; a choice answer shows the chosen labels.
const surveysPanel = (customer) => lazyPanel("surveys", "surveys", t("surveys.panel.title"), "CustomerSurveys", customer, (c) =>
  c.surveyResponses.edges.length
    ? h("ul", { class: "plain" }, c.surveyResponses.edges.map(({ node }) => h("li", {},
        h("a", { href: `#/surveys/${encodeURIComponent(node.survey.id)}` }, node.survey.title), ` · ${formatDate(node.submittedAt, false)}`,
        h("dl", { class: "answers" }, node.answers.map((a) => h("div", {},
          h("dt", {}, a.question.text),
          h("dd", {}, answerText(a))))))))
    : h("p", { class: "muted" }, t("surveys.panel.none")));

function answerText(a) {
  if (a.score !== null && a.score !== undefined) {
    return a.question.maxScore ? t("surveys.answer.score", { score: a.score, max: a.question.maxScore }) : String(a.score);
  }
  if (a.choices?.length) return a.choices.map((choice) => choice.label).join(t("common.listSeparator"));
  if (a.text) return a.text;
  return "—";
}
