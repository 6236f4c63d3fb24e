// Complaint pieces shared by the board, the customer page and "my day": a card
// that can move the case along its workflow (with a note where one is needed),
// and the dialog that files a new complaint.

import { actionForm, errorText, field, h, openDialog, problem, select } from "./dom.js";
import { hasOperation, mutate, request } from "./gql.js";
import { countdown, label, named, t } from "./i18n.js";
import { can } from "./state.js";

// Statuses whose transition needs a note (the proposal, the reason, the outcome).
export const NEEDS_NOTE = new Set(["RESOLUTION_PROPOSED", "REJECTED", "REOPENED", "CLOSED"]);

export function tick(el) {
  const { text, overdue, soon } = countdown(el.dataset.due || null);
  el.textContent = text;
  el.classList.toggle("overdue", overdue);
  el.classList.toggle("soon", Boolean(soon));
}

// ``onMoved(id)`` runs after a successful move (the caller refreshes the card).
export function complaintCard(c, { onMoved, showCustomer = true, headingLevel = "h3" } = {}) {
  const sla = h("div", { class: "sla", "data-due": c.nextDueAt || "" });
  tick(sla);
  const movable = can("complaints.handle") && hasOperation("TransitionComplaint") && c.allowedTransitions?.length;
  let actions = null;
  const feedback = h("div", { class: "error", role: "alert" });
  if (movable) {
    const choose = select("to", c.allowedTransitions.map((s) => [s, label("ComplaintStatus", s)]), { label: t("complaints.move.to") });
    const note = h("input", { type: "text", name: "note", class: "note", placeholder: t("complaints.move.note"), "aria-label": t("complaints.move.note") });
    const noteRequired = () => NEEDS_NOTE.has(choose.value);
    const syncNote = () => {
      note.placeholder = t(noteRequired() ? "complaints.move.noteRequired" : "complaints.move.note");
      note.setAttribute("aria-label", note.placeholder);
      note.required = noteRequired();
    };
    choose.addEventListener("change", syncNote);
    syncNote();
    const move = h("button", { type: "button", class: "move", "data-permission": "complaints.handle", onclick: async () => {
      feedback.textContent = "";
      if (noteRequired() && !note.value.trim()) {
        feedback.textContent = t("complaints.move.noteMissing");
        note.focus();
        return;
      }
      move.disabled = true;
      try {
        const payload = await mutate("TransitionComplaint", { input: { id: c.id, to: choose.value, note: note.value.trim() || null } });
        if (payload.userErrors.length) feedback.textContent = payload.userErrors.map(errorText).join(" ");
        else await onMoved?.(c.id, choose.value);
      } catch (error) {
        feedback.textContent = problem(error).textContent;
      } finally {
        move.disabled = false;
      }
    } }, t("complaints.move.button"));
    actions = h("div", { class: "actions", "data-permission": "complaints.handle" }, choose, note, move);
  }
  const title = showCustomer
    ? h("a", { href: `#/customers/${encodeURIComponent(c.customer?.id || "")}` }, c.customer?.name || "—")
    : named("complaints.category", c.category);
  return h("article", { class: `card priority-${c.priority}`, "data-id": c.id, "data-status": c.status, "data-customer": c.customer?.id },
    h("div", { class: "card-top" }, h(headingLevel, { class: "card-title" }, title),
      h("span", { class: "prio" }, label("ComplaintPriority", c.priority))),
    h("div", { class: "muted" }, showCustomer ? `${named("complaints.category", c.category)} · ` : "",
      h("span", { class: `status status-${c.status}` }, label("ComplaintStatus", c.status)),
      ` · ${c.assignee?.name || t("complaints.unassigned")}`),
    c.description ? h("p", { class: "clip" }, c.description) : null,
    sla, actions, feedback);
}

// The "file a complaint" dialog for one customer; ``onFiled()`` after success.
export async function fileComplaintDialog(customer, onFiled) {
  const categories = (await request("ComplaintCategories")).complaintCategories;
  openDialog(t("complaints.file.title", { name: customer.name }), (close) => {
    const channel = select("channel", ["HOTLINE", "EMAIL", "WEB", "VISIT", "SOCIAL", "OTHER"].map((c) => [c, label("ComplaintChannel", c)]));
    const category = select("category", categories.map((c) => [c, named("complaints.category", c)]));
    const priority = select("priority", ["LOW", "NORMAL", "HIGH", "URGENT"].map((p) => [p, label("ComplaintPriority", p)]), { value: "NORMAL" });
    const description = h("textarea", { name: "description", rows: 4 });
    const keyPoints = h("input", { type: "text", name: "keyPoints" });
    return actionForm({
      permission: "complaints.file",
      submitText: t("complaints.file.submit"),
      fields: [
        h("div", { class: "field-row" },
          field(t("complaints.channel.label"), channel, { name: "channel" }),
          field(t("complaints.category.label"), category, { name: "category" })),
        field(t("complaints.priority.label"), priority, { name: "priority" }),
        field(t("complaints.description"), description, { name: "description", required: true }),
        field(t("complaints.keyPoints"), keyPoints, { name: "keyPoints" }),
      ],
      onSubmit: async () => {
        const payload = await mutate("FileComplaint", { input: {
          customerId: customer.id, channel: channel.value, category: category.value, priority: priority.value,
          description: description.value, keyPoints: keyPoints.value.trim() || null,
        } });
        if (!payload.userErrors.length) { close(); await onFiled?.(payload.complaint); }
        return payload.userErrors;
      },
    });
  });
}
