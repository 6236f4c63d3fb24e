// The complaints board: one column per open status, soonest deadline first,
// SLA countdowns, moves (for roles that may handle complaints) and live updates.

import { complaintCard, tick } from "./complaints.js";
import { clear, h, problem } from "./dom.js";
import { LiveEvents, request } from "./gql.js";
import { label, t } from "./i18n.js";
import { state } from "./state.js";

const BOARD = ["RECEIVED", "ACKNOWLEDGED", "INVESTIGATING", "RESOLUTION_PROPOSED", "REOPENED", "RESOLVED"];

export function boardView(app) {
  const columns = new Map(BOARD.map((status) => [status, h("div", { class: "cards" })]));
  const counts = new Map(BOARD.map((status) => [status, h("span", { class: "count" }, "0")]));
  const liveBadge = h("span", { class: "live", "data-state": state.live, role: "status" }, t(`live.${state.live}`));
  const cards = new Map(); // complaint id -> { el, data }
  state.board = cards;
  const errors = h("div");

  clear(app,
    h("div", { class: "page-head" }, h("h1", {}, t("complaints.board.title")), liveBadge),
    errors,
    h("div", { class: "board" }, BOARD.map((status) => h("section", { class: "column", "data-status": status, "aria-labelledby": `col-${status}` },
      h("h2", { id: `col-${status}` }, label("ComplaintStatus", status), " ", counts.get(status)), columns.get(status)))));

  const recount = () => BOARD.forEach((status) => { counts.get(status).textContent = String(columns.get(status).children.length); });

  function place(c) {
    const existing = cards.get(c.id);
    if (existing) existing.el.remove();
    if (!BOARD.includes(c.status)) { cards.delete(c.id); return recount(); }
    const el = complaintCard(c, { onMoved: refresh });
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
    .catch((error) => clear(errors, problem(error)));

  const timer = setInterval(() => app.querySelectorAll(".sla").forEach(tick), 1000);
  const live = new LiveEvents({
    topics: ["complaint"],
    onStatus: (status) => { state.live = status; liveBadge.textContent = t(`live.${status}`); liveBadge.dataset.state = status; },
    onEvent: (event) => {
      state.events.push(event);
      if (event.nodeId) refresh(event.nodeId).catch(() => {});
    },
  });
  live.start();
  return () => { clearInterval(timer); live.stop(); state.live = "offline"; };
}
