// Small SVG charts: bars, lines, bars with a line, shares. Labels are set with
// textContent, never parsed as markup.

const NS = "http://www.w3.org/2000/svg";
const W = 520, H = 240, PAD = { top: 16, right: 44, bottom: 40, left: 48 };
export const COLORS = ["#2f6fde", "#e07b39", "#3a9d6b", "#c4485d", "#8a63c7", "#999f2a", "#4aa5b5"];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
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

function axis(svg, min, max, format, side = "left") {
  const span = max - min;
  const ticks = span < 4 || Number.isInteger(span / 4) ? 4 : 5;
  const plotH = H - PAD.top - PAD.bottom;
  for (let i = 0; i <= ticks; i++) {
    const value = min + ((max - min) * i) / ticks;
    const y = PAD.top + plotH - (plotH * i) / ticks;
    if (side === "left") svg.append(s("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }));
    const x = side === "left" ? PAD.left - 6 : W - PAD.right + 6;
    svg.append(s("text", { x, y: y + 4, class: "tick", "text-anchor": side === "left" ? "end" : "start" }, format(value)));
  }
}

function xLabels(svg, labels, xOf) {
  const every = Math.ceil(labels.length / 7);
  labels.forEach((label, i) => {
    if (i % every) return;
    svg.append(s("text", { x: xOf(i), y: H - PAD.bottom + 16, class: "tick", "text-anchor": "middle" }, label));
  });
}

function legend(svg, items) {
  let x = PAD.left;
  for (const { name, color } of items) {
    svg.append(s("rect", { x, y: H - 14, width: 10, height: 10, fill: color, class: "legend-key" }));
    const text = s("text", { x: x + 14, y: H - 5, class: "legend" }, name);
    svg.append(text);
    x += 24 + name.length * 7;
  }
}

export function barChart({ title, labels, values, format = (v) => String(Math.round(v)), color = COLORS[0] }) {
  const svg = frame(title);
  const max = niceMax(Math.max(0, ...values));
  axis(svg, 0, max, format);
  const plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, labels.length), width = Math.max(4, slot * 0.6);
  const xOf = (i) => PAD.left + slot * i + slot / 2;
  values.forEach((value, i) => {
    const height = Math.max(value > 0 ? 1 : 0, (plotH * value) / max);
    const bar = s("rect", { x: xOf(i) - width / 2, y: PAD.top + plotH - height, width, height, fill: color, class: "bar" });
    bar.append(s("title", {}, `${labels[i]}: ${format(value)}`));
    svg.append(bar);
  });
  xLabels(svg, labels, xOf);
  return svg;
}

export function lineChart({ title, labels, series, min = 0, max, format = (v) => String(Math.round(v)) }) {
  const svg = frame(title);
  const all = series.flatMap((line) => line.values).filter((v) => v !== null && v !== undefined);
  const top = max ?? niceMax(Math.max(0, ...all));
  axis(svg, min, top, format);
  const plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
  const xOf = (i) => PAD.left + (labels.length > 1 ? (plotW * i) / (labels.length - 1) : plotW / 2);
  const yOf = (v) => PAD.top + plotH - (plotH * (v - min)) / (top - min);
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
  xLabels(svg, labels, xOf);
  legend(svg, series.map((line, n) => ({ name: line.name, color: line.color || COLORS[n] })));
  return svg;
}

export function barLineChart({ title, labels, bars, line }) {
  const svg = barChart({ title, labels, values: bars.values, color: bars.color || COLORS[0] });
  const plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, labels.length);
  const xOf = (i) => PAD.left + slot * i + slot / 2;
  const yOf = (v) => PAD.top + plotH - (plotH * v) / line.max;
  axis(svg, 0, line.max, line.format, "right");
  let d = "";
  line.values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    d += `${d ? "L" : "M"}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`;
    const dot = s("circle", { cx: xOf(i), cy: yOf(v), r: 3.5, fill: line.color || COLORS[1], class: "point" });
    dot.append(s("title", {}, `${line.name} ${labels[i]}: ${line.format(v)}`));
    svg.append(dot);
  });
  if (d) svg.append(s("path", { d, stroke: line.color || COLORS[1], fill: "none", "stroke-width": 2.5, class: "line" }));
  legend(svg, [{ name: bars.name, color: bars.color || COLORS[0] }, { name: line.name, color: line.color || COLORS[1] }]);
  return svg;
}

// One horizontal bar split into shares (fractions of 1), with a legend.
export function shareChart({ title, labels, shares, format = (v) => `${(v * 100).toFixed(1)}%` }) {
  const svg = frame(title);
  const total = shares.reduce((a, b) => a + b, 0) || 1;
  const plotW = W - PAD.left - PAD.right;
  let x = PAD.left;
  shares.forEach((share, i) => {
    const width = (plotW * share) / total;
    const part = s("rect", { x, y: 60, width: Math.max(width, 0), height: 70, fill: COLORS[i % COLORS.length], class: "bar" });
    part.append(s("title", {}, `${labels[i]}: ${format(share)}`));
    svg.append(part);
    if (width > 40) svg.append(s("text", { x: x + width / 2, y: 100, class: "share", "text-anchor": "middle" }, `${labels[i]} ${format(share)}`));
    x += width;
  });
  legend(svg, labels.map((name, i) => ({ name: `${name} ${format(shares[i])}`, color: COLORS[i % COLORS.length] })));
  return svg;
}
