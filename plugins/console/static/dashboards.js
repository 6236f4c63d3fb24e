// Dashboards: the enabled plugins' charts, each only for a role whose query it
// may run. The satisfaction chart names its survey and lets you choose it.

import { barChart, barLineChart, COLORS, lineChart, shareChart } from "./charts.js";
import { clear, h, problem, select } from "./dom.js";
import { hasOperation, request } from "./gql.js";
import { currencySymbol, formatMoney, formatMonth, formatNumber, label, recentMonths, t } from "./i18n.js";
import { can, enabled } from "./state.js";

function chart(name, title, note) {
  const body = h("div", { class: "chart-body" }, h("p", { class: "muted" }, t("common.loading")));
  const controls = h("div", { class: "chart-controls" });
  const caption = h("figcaption", {}, title);
  const figure = h("figure", { class: "chart", "data-chart": name }, caption, controls, body, note ? h("p", { class: "muted small" }, note) : null);
  return { figure, caption, controls, show: (...nodes) => clear(body, ...nodes), fail: (error) => clear(body, problem(error)) };
}

export function dashboardsView(app) {
  const grid = h("div", { class: "charts" });
  clear(app, h("h1", {}, t("dashboards.title")), grid);
  const add = (...args) => { const c = chart(...args); grid.append(c.figure); return c; };

  if (enabled("segmentation") && hasOperation("SegmentationDashboard")) {
    const tiers = add("tiers", t("segmentation.chart.tiers"));
    const stages = add("stages", t("segmentation.chart.stages"));
    const abc = add("abc", t("segmentation.chart.abc"));
    request("SegmentationDashboard").then(({ segmentationSummary: s }) => {
      const sorted = (groups, order) => [...groups].sort((a, b) => order.indexOf(a.key) - order.indexOf(b.key));
      const tiersSorted = sorted(s.tiers, ["CORE", "POTENTIAL", "GENERAL"]);
      tiers.show(barChart({ title: t("segmentation.chart.tiers"), labels: tiersSorted.map((g) => label("ValueTier", g.key)),
        values: tiersSorted.map((g) => g.customers), unit: t("segmentation.chart.customersUnit") }));
      const stagesSorted = sorted(s.stages, ["PROSPECT", "NEW", "ACTIVE", "LOYAL", "AT_RISK", "CHURNED"]);
      stages.show(barChart({ title: t("segmentation.chart.stages"), labels: stagesSorted.map((g) => label("LifecycleStage", g.key)),
        values: stagesSorted.map((g) => g.customers), color: COLORS[2], unit: t("segmentation.chart.customersUnit") }));
      abc.show(shareChart({ title: t("segmentation.chart.abc"), labels: s.abcClasses.map((g) => label("AbcClass", g.key)),
        shares: s.abcClasses.map((g) => Number(g.revenueShare)) }));
    }).catch((error) => [tiers, stages, abc].forEach((c) => c.fail(error)));
  }

  if (enabled("surveys") && hasOperation("SurveyTrend")) satisfactionChart(add("satisfaction", t("surveys.chart.title"), t("surveys.chart.note")));

  if (enabled("complaints") && hasOperation("ComplaintDashboard")) {
    const complaints = add("complaints", t("complaints.chart.title"), t("complaints.chart.note"));
    // Months of the business calendar ([kehu] timezone), not of UTC or the browser.
    const periods = Object.fromEntries(recentMonths(6).map((month, i) => [`p${i}`, month]));
    request("ComplaintDashboard", periods).then((data) => {
      const months = [0, 1, 2, 3, 4, 5].map((i) => data[`m${i}`]);
      complaints.show(barLineChart({ title: t("complaints.chart.title"), labels: months.map((m) => formatMonth(m.start)),
        bars: { name: t("complaints.chart.volume"), values: months.map((m) => m.total), unit: t("complaints.chart.volumeUnit") },
        line: { name: t("complaints.chart.sla"), values: months.map((m) => m.slaCompliancePercent), max: 100, unit: "%", format: (v) => `${Math.round(v)}%` } }));
    }).catch((error) => complaints.fail(error));
  }

  // The liability is a report: only roles holding loyalty.report see it.
  if (enabled("loyalty") && hasOperation("LoyaltyDashboard") && can("loyalty.report")) {
    const liability = add("liability", t("loyalty.chart.title"), t("loyalty.chart.note"));
    const from = recentMonths(12)[0].start;
    request("LoyaltyDashboard", { from }).then(({ loyaltySummary: l }) => {
      liability.show(barChart({ title: t("loyalty.chart.title"), labels: l.periods.map((p) => formatMonth(p.start)),
        values: l.periods.map((p) => Number(p.outstandingValue)), color: COLORS[4],
        unit: t("loyalty.chart.unit", { currency: currencySymbol() }), format: (v) => formatNumber(v) }),
        h("p", { class: "muted small" }, t("loyalty.chart.now", { points: formatNumber(l.outstanding), value: formatMoney(l.outstandingValue) })));
    }).catch((error) => liability.fail(error));
  }
  if (!grid.children.length) grid.append(h("p", { class: "muted" }, t("dashboards.none")));
  return () => {};
}

// NPS and CSAT per month over the last year of one survey — named in the title,
// chosen in a list and remembered on this device. Until someone chooses, the
// longest-running published survey: publishing a new one does not silently
// replace a year of trend with its first point.
const CHOSEN_SURVEY = "kehu.console.satisfactionSurvey";
async function satisfactionChart(c) {
  try {
    const surveys = (await request("Surveys")).surveys.edges.map((e) => e.node).filter((s) => s.status !== "DRAFT");
    if (!surveys.length) return c.show(h("p", { class: "muted" }, t("surveys.chart.none")));
    const byAge = [...surveys].sort((a, b) => new Date(a.publishedAt || a.createdAt) - new Date(b.publishedAt || b.createdAt));
    const remembered = surveys.find((s) => s.id === localStorage.getItem(CHOSEN_SURVEY));
    const chooser = select("survey", surveys.map((s) => [s.id, s.title]), { value: (remembered || byAge[0]).id, label: t("surveys.chart.choose") });
    chooser.dataset.read = "";
    clear(c.controls, chooser);
    const draw = async () => {
      const survey = surveys.find((s) => s.id === chooser.value);
      c.caption.textContent = t("surveys.chart.titleFor", { title: survey.title });
      const from = new Date(); from.setUTCFullYear(from.getUTCFullYear() - 1);
      const { surveyResults: r } = await request("SurveyTrend", { id: survey.id, period: { from: from.toISOString() } });
      if (!r.trend.length) return c.show(h("p", { class: "muted" }, t("surveys.chart.noResponses")));
      c.show(lineChart({ title: t("surveys.chart.titleFor", { title: survey.title }), labels: r.trend.map((p) => formatMonth(p.periodStart)),
        min: -100, max: 100, unit: t("surveys.results.trendUnit"),
        series: [{ name: t("surveys.results.nps"), values: r.trend.map((p) => p.nps) }, { name: t("surveys.results.csatPercent"), values: r.trend.map((p) => p.csat) }] }));
    };
    chooser.addEventListener("change", () => {
      localStorage.setItem(CHOSEN_SURVEY, chooser.value);
      draw().catch((error) => c.fail(error));
    });
    await draw();
  } catch (error) {
    c.fail(error);
  }
}
