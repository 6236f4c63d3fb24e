// Small SVG charts: bars, lines, bars with a line, shares. Labels are set with
// textContent, never parsed as markup. The margins grow with the longest tick
// label, so "¥1,200,000" is never clipped; ``unit`` names the axis' unit above it.

const NS = "http://www.w3.org/2000/svg";
const W = 520, H = 240;
export const COLORS = ["#2a62c9", "#b85a1e", "#2c7a55", "#b03a50", "#7451b3", "#6d721c", "#2f7f8d"];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// Rough rendered width at 11px: CJK characters are square, Latin ones narrower.
function textWidth(text, size = 11) {
  let width = 0;
  for (const ch of String(text)) width += /[\u2E80-\uFFFF]/.test(ch) ? size : size * 0.62;
  return width;
}

function frame(title) {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, preserveAspectRatio: "xMidYMid meet" });
  svg.append(s("title", {}, title));
  return svg;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((f) => f * power).find((m) => m >= value);
}

function tickValues(min, max) {
  const span = max - min;
  const ticks = span < 4 || Number.isInteger(span / 4) ? 4 : 5;
  return Array.from({ length: ticks + 1 }, (_, i) => min + ((max - min) * i) / ticks);
}

// Margins that fit the tick labels of the left (and right) axis and the unit line.
function padding({ left = [], right = [], unit, rightUnit }) {
  const widest = (labels) => Math.max(0, ...labels.map((l) => textWidth(l)));
  return {
    top: unit || rightUnit ? 28 : 16,
    bottom: 40,
    left: Math.max(36, Math.ceil(widest(left)) + 12),
    right: right.length ? Math.max(36, Math.ceil(widest(right)) + 12) : 16,
  };
}

function axis(svg, pad, values, format, side = "left") {
  const plotH = H - pad.top - pad.bottom;
  const min = values[0], max = values[values.length - 1];
  for (const value of values) {
    const y = pad.top + plotH - (plotH * (value - min)) / (max - min);
    if (side === "left") svg.append(s("line", { x1: pad.left, x2: W - pad.right, y1: y, y2: y, class: "grid" }));
    const x = side === "left" ? pad.left - 6 : W - pad.right + 6;
    svg.append(s("text", { x, y: y + 4, class: "tick", "text-anchor": side === "left" ? "end" : "start" }, format(value)));
  }
}

function unitLabel(svg, pad, unit, side = "left") {
  if (!unit) return;
  const x = side === "left" ? 4 : W - 4;
  svg.append(s("text", { x, y: 12, class: "unit", "text-anchor": side === "left" ? "start" : "end" }, unit));
}

function xLabels(svg, pad, labels, xOf) {
  const every = Math.ceil(labels.length / 7);
  labels.forEach((label, i) => {
    if (i % every) return;
    svg.append(s("text", { x: xOf(i), y: H - pad.bottom + 16, class: "tick", "text-anchor": "middle" }, label));
  });
}

function legend(svg, pad, items) {
  let x = pad.left;
  for (const { name, color } of items) {
    svg.append(s("rect", { x, y: H - 14, width: 10, height: 10, fill: color, class: "legend-key" }));
    svg.append(s("text", { x: x + 14, y: H - 5, class: "legend" }, name));
    x += 28 + textWidth(name);
  }
}

export function barChart({ title, labels, values, format = (v) => String(Math.round(v)), color = COLORS[0], unit, pad: given }) {
  const svg = frame(title);
  const max = niceMax(Math.max(0, ...values));
  const ticks = tickValues(0, max);
  const pad = given || padding({ left: ticks.map(format), unit });
  axis(svg, pad, ticks, format);
  unitLabel(svg, pad, unit);
  const plotW = W - pad.left - pad.right, plotH = H - pad.top - pad.bottom;
  const slot = plotW / Math.max(1, labels.length), width = Math.max(4, Math.min(48, slot * 0.6));
  const xOf = (i) => pad.left + slot * i + slot / 2;
  values.forEach((value, i) => {
    const height = Math.max(value > 0 ? 1 : 0, (plotH * value) / max);
    const bar = s("rect", { x: xOf(i) - width / 2, y: pad.top + plotH - height, width, height, fill: color, class: "bar" });
    bar.append(s("title", {}, `${labels[i]}: ${format(value)}`));
    svg.append(bar);
  });
  xLabels(svg, pad, labels, xOf);
  svg.pad = pad;
  return svg;
}

export function lineChart({ title, labels, series, min = 0, max, format = (v) => String(Math.round(v)), unit }) {
  const svg = frame(title);
  const all = series.flatMap((line) => line.values).filter((v) => v !== null && v !== undefined);
  const top = max ?? niceMax(Math.max(0, ...all));
  const ticks = tickValues(min, top);
  const pad = padding({ left: ticks.map(format), unit });
  axis(svg, pad, ticks, format);
  unitLabel(svg, pad, unit);
  const plotW = W - pad.left - pad.right, plotH = H - pad.top - pad.bottom;
  const xOf = (i) => pad.left + (labels.length > 1 ? (plotW * i) / (labels.length - 1) : plotW / 2);
  const yOf = (v) => pad.top + plotH - (plotH * (v - min)) / (top - min);
  series.forEach((line, n) => {
    const color = line.color || COLORS[n];
    let d = "";
    line.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      d += `${d ? "L" : "M"}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`;
      const dot = s("circle", { cx: xOf(i), cy: yOf(v), r: 3.5, fill: color, class: "point" });
      dot.append(s("title", {}, `${line.name} ${labels[i]}: ${format(v)}`));
      svg.append(dot);
    });
    if (d) svg.insertBefore(s("path", { d, stroke: color, fill: "none", "stroke-width": 2.5, class: "line" }), svg.querySelector("circle"));
  });
  xLabels(svg, pad, labels, xOf);
  legend(svg, pad, series.map((line, n) => ({ name: line.name, color: line.color || COLORS[n] })));
  return svg;
}

export function barLineChart({ title, labels, bars, line }) {
  const barTicks = tickValues(0, niceMax(Math.max(0, ...bars.values)));
  const lineTicks = tickValues(0, line.max);
  const pad = padding({ left: barTicks.map((v) => String(Math.round(v))), right: lineTicks.map(line.format), unit: bars.unit, rightUnit: line.unit });
  const svg = barChart({ title, labels, values: bars.values, color: bars.color || COLORS[0], unit: bars.unit, pad });
  const plotW = W - pad.left - pad.right, plotH = H - pad.top - pad.bottom;
  const slot = plotW / Math.max(1, labels.length);
  const xOf = (i) => pad.left + slot * i + slot / 2;
  const yOf = (v) => pad.top + plotH - (plotH * v) / line.max;
  axis(svg, pad, lineTicks, line.format, "right");
  unitLabel(svg, pad, line.unit, "right");
  let d = "";
  line.values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    d += `${d ? "L" : "M"}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`;
    const dot = s("circle", { cx: xOf(i), cy: yOf(v), r: 3.5, fill: line.color || COLORS[1], class: "point" });
    dot.append(s("title", {}, `${line.name} ${labels[i]}: ${line.format(v)}`));
    svg.append(dot);
  });
  if (d) svg.append(s("path", { d, stroke: line.color || COLORS[1], fill: "none", "stroke-width": 2.5, class: "line" }));
  legend(svg, pad, [{ name: bars.name, color: bars.color || COLORS[0] }, { name: line.name, color: line.color || COLORS[1] }]);
  return svg;
}

// One horizontal bar split into shares (fractions of 1), with a legend.
export function shareChart({ title, labels, shares, format = (v) => `${(v * 100).toFixed(1)}%` }) {
  const svg = frame(title);
  const pad = padding({});
  const total = shares.reduce((a, b) => a + b, 0) || 1;
  const plotW = W - pad.left - pad.right;
  let x = pad.left;
  shares.forEach((share, i) => {
    const width = (plotW * share) / total;
    const part = s("rect", { x, y: 60, width: Math.max(width, 0), height: 70, fill: COLORS[i % COLORS.length], class: "bar" });
    part.append(s("title", {}, `${labels[i]}: ${format(share)}`));
    svg.append(part);
    const text = `${labels[i]} ${format(share)}`;
    if (width > textWidth(text, 12) + 8) svg.append(s("text", { x: x + width / 2, y: 100, class: "share", "text-anchor": "middle" }, text));
    x += width;
  });
  legend(svg, pad, labels.map((name, i) => ({ name: `${name} ${format(shares[i])}`, color: COLORS[i % COLORS.length] })));
  return svg;
}

// Horizontal bars, one per row (a question's answers): label, bar, count.
export function distributionChart({ title, rows, color = COLORS[0] }) {
  const rowH = 22;
  const labelW = Math.min(200, Math.max(24, ...rows.map((r) => textWidth(r.label))) + 8);
  const height = rows.length * rowH + 8;
  const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": title, preserveAspectRatio: "xMidYMid meet" });
  svg.append(s("title", {}, title));
  const max = Math.max(1, ...rows.map((r) => r.count));
  const plotW = W - labelW - 90;
  rows.forEach((row, i) => {
    const y = 4 + i * rowH;
    svg.append(s("text", { x: labelW - 6, y: y + 15, class: "tick", "text-anchor": "end" }, row.label));
    const width = Math.max(row.count ? 2 : 0, (plotW * row.count) / max);
    const bar = s("rect", { x: labelW, y: y + 3, width, height: rowH - 8, fill: color, class: "bar" });
    bar.append(s("title", {}, `${row.label}: ${row.text}`));
    svg.append(bar);
    svg.append(s("text", { x: labelW + width + 6, y: y + 15, class: "tick" }, row.text));
  });
  return svg;
}
