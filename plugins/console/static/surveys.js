// Surveys: the list, a form to create one (in the language its public page will
// speak), and a survey's page — publish or close it, invite a segment or chosen
// customers and copy their links, and its results (NPS, CSAT, trend,
// distributions, text answers as masking allows).

import { distributionChart, lineChart, COLORS } from "./charts.js";
import { actionForm, clear, copyText, errorText, field, h, nextId, openDialog, problem, select } from "./dom.js";
import { hasOperation, mutate, request } from "./gql.js";
import { LANGUAGES, currentLanguage, formatDate, formatMonth, formatNumber, formatPercent, label, languageOf, t, textsOf } from "./i18n.js";
import { canRun, enabled } from "./state.js";

const TYPES = ["NPS", "CSAT", "RATING", "SINGLE_CHOICE", "MULTI_CHOICE", "TEXT"];
const surveyHref = (id) => `#/surveys/${encodeURIComponent(id)}`;

// --------------------------------------------------------------------------- list

export function surveysView(app) {
  const list = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  clear(app,
    h("div", { class: "page-head" }, h("h1", {}, t("surveys.title")),
      canRun("surveys.manage", "CreateSurvey") ? h("a", { class: "button", href: "#/surveys/new", "data-permission": "surveys.manage" }, t("surveys.new")) : null),
    list);
  request("Surveys").then((data) => {
    const surveys = data.surveys.edges.map((e) => e.node);
    if (!surveys.length) return clear(list, h("p", { class: "muted empty" }, t("surveys.none")));
    const columns = [t("surveys.field.title"), t("surveys.field.status"), t("surveys.field.language"), t("surveys.field.published")];
    clear(list, h("table", { class: "surveys responsive" },
      h("caption", { class: "sr" }, t("surveys.title")),
      h("thead", {}, h("tr", {}, columns.map((text) => h("th", { scope: "col" }, text)))),
      h("tbody", {}, surveys.map((s) => h("tr", { "data-id": s.id },
        h("td", { "data-label": columns[0], class: "primary" }, h("a", { href: surveyHref(s.id), class: "survey-link" }, s.title)),
        h("td", { "data-label": columns[1] }, h("span", { class: `status survey-${s.status}` }, label("SurveyStatus", s.status))),
        h("td", { "data-label": columns[2] }, s.language ? label("Language", s.language) : t("surveys.language.browser")),
        h("td", { "data-label": columns[3] }, formatDate(s.publishedAt, false)))))));
  }).catch((error) => clear(list, problem(error)));
  return () => {};
}

// --------------------------------------------------------------------------- create

function questionEditor(initial = {}) {
  const id = nextId("q");
  const type = select("type", TYPES.map((k) => [k, label("SurveyQuestionType", k)]), { value: initial.type || "NPS" });
  const text = h("input", { type: "text", name: "text", value: initial.text || "" });
  const required = h("input", { type: "checkbox", name: "required", id: `${id}-required`, checked: initial.required === false ? null : true });
  const choices = h("textarea", { name: "choices", rows: 3 });
  const scale = h("input", { type: "number", name: "scaleMax", min: 2, max: 10, value: 5 });
  const choicesField = field(t("surveys.question.choices"), choices, { name: "choices", hint: t("surveys.question.choicesHint") });
  const scaleField = field(t("surveys.question.scaleMax"), scale, { name: "scaleMax" });
  const sync = () => {
    choicesField.hidden = !["SINGLE_CHOICE", "MULTI_CHOICE"].includes(type.value);
    scaleField.hidden = type.value !== "RATING";
  };
  type.addEventListener("change", sync);
  sync();
  const box = h("fieldset", { class: "question" },
    h("legend", {}, t("surveys.question.legend")),
    h("div", { class: "field-row" }, field(t("surveys.question.type"), type, { name: "type" }), field(t("surveys.question.text"), text, { name: "text", required: true })),
    choicesField, scaleField,
    h("div", { class: "check" }, required, h("label", { for: required.id }, t("surveys.question.required"))),
    h("button", { type: "button", class: "link remove", "data-read": "", onclick: () => { box.remove(); renumber(); } }, t("surveys.question.remove")));
  box.value = () => {
    const out = { type: type.value, text: text.value.trim(), required: required.checked };
    if (!choicesField.hidden) out.choices = choices.value.split("\n").map((c) => c.trim()).filter(Boolean);
    if (!scaleField.hidden) out.scaleMax = Number.parseInt(scale.value, 10) || null;
    return out;
  };
  return box;
}

function renumber() {
  document.querySelectorAll("fieldset.question").forEach((box, i) => {
    box.querySelector("legend").textContent = t("surveys.question.legendN", { n: i + 1 });
    box.querySelectorAll(".field").forEach((f) => {
      const name = f.dataset.field.replace(/^questions\[\d+\]\./, "");
      f.dataset.field = `questions[${i}].${name}`;
    });
  });
}

export function surveyFormView(app) {
  const title = h("input", { type: "text", name: "title" });
  const description = h("textarea", { name: "description", rows: 2 });
  const language = select("language", [...Object.keys(LANGUAGES).map((k) => [k, label("Language", k)]), ["", t("surveys.language.browser")]],
    { value: languageOf(currentLanguage()) });
  const templates = ["nps", "csat", "text"].map((name) => `surveys.template.${name}`);
  const questions = h("div", { class: "questions" },
    questionEditor({ type: "NPS", text: t(templates[0]) }),
    questionEditor({ type: "CSAT", text: t(templates[1]) }),
    questionEditor({ type: "TEXT", text: t(templates[2]), required: false }));
  // The suggested questions follow the page's language until someone edits them.
  let shownIn = currentLanguage();
  language.addEventListener("change", async () => {
    const tag = LANGUAGES[language.value] || currentLanguage();
    const [before, after] = await Promise.all([textsOf(shownIn), textsOf(tag)]);
    questions.querySelectorAll("input[name=text]").forEach((input) => {
      const key = templates.find((k) => before[k] === input.value);
      if (key && after[key]) input.value = after[key];
    });
    shownIn = tag;
  });
  const form = actionForm({
    permission: "surveys.manage",
    submitText: t("surveys.create"),
    className: "survey-form",
    fields: [
      field(t("surveys.field.title"), title, { name: "title", required: true }),
      field(t("surveys.field.description"), description, { name: "description" }),
      field(t("surveys.field.language"), language, { name: "language", hint: t("surveys.language.hint") }),
      h("h2", {}, t("surveys.questions")),
      questions,
      h("button", { type: "button", class: "secondary", "data-read": "", onclick: () => { questions.append(questionEditor({ type: "RATING" })); renumber(); } }, t("surveys.question.add")),
    ],
    onSubmit: async () => {
      const payload = await mutate("CreateSurvey", { input: {
        title: title.value.trim(), description: description.value.trim() || null, language: language.value || null,
        questions: [...questions.querySelectorAll("fieldset.question")].map((box) => box.value()),
      } });
      if (!payload.userErrors.length) location.hash = surveyHref(payload.survey.id);
      return payload.userErrors;
    },
  });
  clear(app, h("p", {}, h("a", { href: "#/surveys" }, t("surveys.back"))), h("h1", {}, t("surveys.new")), form);
  renumber();
  return () => {};
}

// --------------------------------------------------------------------------- one survey

export function surveyView(app, id) {
  const status = h("p", { class: "status-line", role: "status" });
  const head = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  const invitations = h("div", { class: "invitations" });
  const results = h("div", { class: "results-area" });
  clear(app, h("p", {}, h("a", { href: "#/surveys" }, t("surveys.back"))), status, head, invitations, results);

  async function render() {
    const { survey } = await request("Survey", { id });
    if (!survey) return clear(head, h("h1", {}, t("surveys.notFound")));
    const act = (name, permission, operation, text, after) => canRun(permission, operation)
      ? h("button", { type: "button", "data-permission": permission, "data-action": name, onclick: async (event) => {
          event.target.disabled = true;
          try {
            const payload = await mutate(operation, { id });
            status.classList.toggle("bad", payload.userErrors.length > 0);
            if (payload.userErrors.length) status.textContent = payload.userErrors.map(errorText).join(" ");
            else { status.textContent = after; await render(); }
          } catch (error) {
            status.classList.add("bad");
            status.textContent = problem(error).textContent;
          } finally {
            event.target.disabled = false;
          }
        } }, text) : null;
    const published = survey.status === "PUBLISHED";
    clear(head,
      h("div", { class: "page-head" }, h("h1", {}, survey.title),
        h("span", { class: `status survey-${survey.status}` }, label("SurveyStatus", survey.status))),
      survey.description ? h("p", {}, survey.description) : null,
      h("p", { class: "muted" }, t("surveys.meta", {
        language: survey.language ? label("Language", survey.language) : t("surveys.language.browser"),
        version: survey.version, questions: survey.questions.length,
      })),
      h("div", { class: "actions-bar" },
        !published ? act("publish", "surveys.manage", "PublishSurvey", t("surveys.publish"), t("surveys.published")) : null,
        published ? act("close", "surveys.manage", "CloseSurvey", t("surveys.close"), t("surveys.closed")) : null,
        published && canRun("surveys.invite", "InviteToSurvey")
          ? h("button", { type: "button", "data-permission": "surveys.invite", "data-action": "invite", onclick: () => inviteDialog(survey, invitations) }, t("surveys.invite.button"))
          : null),
      h("details", { class: "questions-preview" }, h("summary", {}, t("surveys.questions")),
        h("ol", {}, survey.questions.map((q) => h("li", {}, q.text, " ", h("span", { class: "muted" }, `(${label("SurveyQuestionType", q.type)})`),
          q.choices.length ? h("span", { class: "muted" }, `: ${q.choices.map((c) => c.label).join(t("common.listSeparator"))}`) : null)))));
    await renderResults(results, id);
  }
  render().catch((error) => clear(head, problem(error)));
  return () => {};
}

// --------------------------------------------------------------------------- invitations

async function inviteDialog(survey, target) {
  const segments = enabled("segmentation") && hasOperation("Segments") ? (await request("Segments")).segments : [];
  openDialog(t("surveys.invite.title", { title: survey.title }), (close) => {
    const modeName = nextId("mode");
    const chosen = new Map(); // customer id -> name
    const radio = (value, text, checked) => {
      const input = h("input", { type: "radio", name: modeName, value, id: `${modeName}-${value}`, checked: checked ? true : null });
      return h("div", { class: "check" }, input, h("label", { for: input.id }, text));
    };
    const segment = segments.length ? select("segmentKey", segments.map((s) => [s.key, t("surveys.invite.segmentOption", { name: s.name, size: s.size })])) : null;
    const search = h("input", { type: "search", name: "customerSearch", autocomplete: "off", "data-read": "" });
    const found = h("ul", { class: "plain picker" });
    const picked = h("ul", { class: "plain chosen", "aria-live": "polite" });
    let timer;
    const showPicked = () => clear(picked, [...chosen].map(([cid, name]) => h("li", {}, h("span", { class: "tag" }, name),
      h("button", { type: "button", class: "link", "data-read": "", "aria-label": t("surveys.invite.removeCustomer", { name }),
        onclick: () => { chosen.delete(cid); showPicked(); } }, "×"))));
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const term = search.value.trim();
        if (!term) return clear(found);
        const data = await request("Customers", { first: 8, filter: { search: term }, orderBy: { field: "LAST_INTERACTION_AT", direction: "DESC" } });
        clear(found, data.customers.edges.map(({ node }) => h("li", {}, h("button", { type: "button", class: "link pick", "data-read": "",
          onclick: () => { chosen.set(node.id, node.name); showPicked(); } }, t("surveys.invite.add", { name: node.name })))));
      }, 250);
    });
    const modes = h("fieldset", { class: "modes" }, h("legend", {}, t("surveys.invite.who")),
      segment ? radio("segment", t("surveys.invite.bySegment"), true) : null,
      radio("customers", t("surveys.invite.byCustomers"), !segment));
    const segmentBox = segment ? field(t("surveys.invite.segment"), segment, { name: "segmentKey" }) : null;
    const customersBox = h("div", { class: "customers-box" },
      field(t("surveys.invite.search"), search, { name: "customerIds" }), found, picked);
    const sync = () => {
      const mode = modes.querySelector("input:checked")?.value;
      if (segmentBox) segmentBox.hidden = mode !== "segment";
      customersBox.hidden = mode !== "customers";
    };
    modes.addEventListener("change", sync);
    sync();
    return actionForm({
      permission: "surveys.invite",
      submitText: t("surveys.invite.submit"),
      fields: [modes, segmentBox, customersBox],
      onSubmit: async () => {
        const mode = modes.querySelector("input:checked")?.value;
        const input = { surveyId: survey.id };
        if (mode === "segment") input.segmentKey = segment.value;
        else input.customerIds = [...chosen.keys()];
        const payload = await mutate("InviteToSurvey", { input });
        if (!payload.userErrors.length) { close(); showLinks(target, payload.invitations); }
        return payload.userErrors;
      },
    });
  });
}

// Links are shown once (the server keeps only their hashes): copy each, or all.
function showLinks(target, invitations) {
  const columns = [t("surveys.links.customer"), t("surveys.links.link"), t("surveys.links.expires")];
  const all = invitations.map((i) => `${i.invitation.customer?.name || ""}\t${absolute(i.link)}`).join("\n");
  const copiedAll = h("span", { class: "muted", role: "status" });
  clear(target, h("section", { class: "panel", "aria-labelledby": "links-title" },
    h("h2", { id: "links-title" }, t("surveys.links.title", { count: invitations.length })),
    h("p", { class: "muted" }, t("surveys.links.once")),
    invitations.length ? h("p", {}, h("button", { type: "button", class: "secondary", "data-read": "", "data-action": "copy-all",
      onclick: async () => { copiedAll.textContent = (await copyText(all)) ? t("surveys.links.copied") : t("surveys.links.copyFailed"); } },
      t("surveys.links.copyAll")), " ", copiedAll) : null,
    h("table", { class: "links responsive" },
      h("caption", { class: "sr" }, t("surveys.links.title", { count: invitations.length })),
      h("thead", {}, h("tr", {}, columns.map((text) => h("th", { scope: "col" }, text)))),
      h("tbody", {}, invitations.map((i) => {
        const link = absolute(i.link);
        const input = h("input", { type: "text", readonly: true, value: link, class: "link-text", "aria-label": t("surveys.links.linkFor", { name: i.invitation.customer?.name || "" }), "data-read": "" });
        const copied = h("span", { class: "muted", role: "status" });
        return h("tr", {},
          h("td", { "data-label": columns[0] }, i.invitation.customer
            ? h("a", { href: `#/customers/${encodeURIComponent(i.invitation.customer.id)}` }, i.invitation.customer.name) : "—"),
          h("td", { "data-label": columns[1] }, h("div", { class: "copy-row" }, input,
            h("button", { type: "button", class: "secondary small", "data-read": "", "data-action": "copy",
              onclick: async () => { copied.textContent = (await copyText(link, input)) ? t("surveys.links.copied") : t("surveys.links.copyFailed"); } },
              t("surveys.links.copy")), copied)),
          h("td", { "data-label": columns[2] }, formatDate(i.invitation.expiresAt, false)));
      })))));
  target.querySelector("h2").scrollIntoView({ block: "nearest" });
}

function absolute(link) {
  return /^https?:\/\//.test(link) ? link : new URL(link, location.origin).href;
}

// --------------------------------------------------------------------------- results

async function renderResults(target, id) {
  const { surveyResults: r } = await request("SurveyResults", { id, period: null });
  const tile = (name, title, value, note) => h("div", { class: "tile", "data-kpi": name }, h("div", { class: "tile-label" }, title),
    h("div", { class: "tile-value" }, value), note ? h("div", { class: "muted small" }, note) : null);
  const figures = h("div", { class: "tiles" },
    tile("responses", t("surveys.results.responses"), formatNumber(r.responseCount),
      r.invitedCount ? t("surveys.results.rate", { rate: formatPercent(r.responseRate), invited: r.invitedCount }) : null),
    tile("nps", t("surveys.results.nps"), r.nps === null ? "—" : formatNumber(r.nps, 1),
      r.npsBreakdown.total ? t("surveys.results.npsParts", { promoters: r.npsBreakdown.promoters, passives: r.npsBreakdown.passives, detractors: r.npsBreakdown.detractors }) : null),
    tile("csat", t("surveys.results.csat"), r.csat === null ? "—" : formatPercent(r.csat),
      r.csatMean !== null ? t("surveys.results.csatMean", { mean: formatNumber(r.csatMean, 2) }) : null));
  const parts = [h("h2", {}, t("surveys.results.title")), figures];
  const trendPoints = r.trend.filter((p) => p.responseCount > 0);
  if (trendPoints.length) {
    const labels = r.trend.map((p) => formatMonth(p.periodStart));
    parts.push(h("figure", { class: "chart", "data-chart": "survey-trend" },
      h("figcaption", {}, t("surveys.results.trend")),
      lineChart({ title: t("surveys.results.trend"), labels, min: -100, max: 100, unit: t("surveys.results.trendUnit"),
        series: [{ name: t("surveys.results.nps"), values: r.trend.map((p) => p.nps) }, { name: t("surveys.results.csatPercent"), values: r.trend.map((p) => p.csat) }] })));
  }
  for (const q of r.questions) {
    const title = `${q.question.position}. ${q.question.text}`;
    const body = [];
    if (q.question.type === "TEXT") {
      const answers = q.textAnswers.edges.map((e) => e.node);
      body.push(answers.length
        ? h("ul", { class: "plain text-answers" }, answers.map((a) => h("li", {}, h("q", {}, a.text),
            h("span", { class: "muted" }, ` — ${a.customer?.name || "—"}, ${formatDate(a.submittedAt, false)}`))))
        : h("p", { class: "muted" }, t("surveys.results.noText")));
      if (q.textAnswers.totalCount > answers.length) body.push(h("p", { class: "muted" }, t("surveys.results.moreText", { count: q.textAnswers.totalCount - answers.length })));
    } else {
      body.push(distributionChart({ title, color: COLORS[q.question.type === "NPS" ? 0 : q.question.type === "CSAT" ? 2 : 4],
        rows: q.distribution.map((b) => ({ label: b.label || String(b.value), count: b.count, text: b.percent === null ? "0" : `${b.count} (${formatPercent(b.percent)})` })) }));
      const summary = [
        t("surveys.results.answers", { count: q.answerCount }),
        q.mean !== null ? t("surveys.results.mean", { mean: formatNumber(q.mean, 2) }) : null,
        q.nps !== null ? `${t("surveys.results.nps")} ${formatNumber(q.nps, 1)}` : null,
        q.csat !== null ? `${t("surveys.results.csat")} ${formatPercent(q.csat)}` : null,
      ].filter(Boolean).join(" · ");
      body.push(h("p", { class: "muted" }, summary));
    }
    parts.push(h("section", { class: "panel question-results", "data-type": q.question.type },
      h("h3", {}, title, " ", h("span", { class: "muted small" }, `(${label("SurveyQuestionType", q.question.type)})`)), body));
  }
  clear(target, parts);
}
