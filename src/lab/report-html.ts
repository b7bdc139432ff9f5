/**
 * The lab report as one self-contained HTML page (inline CSS and SVG, no script, nothing fetched):
 * the summary table, then per mode a paragraph of what happened and three time lines on the run's
 * clock: the nodes (role of each, the partition, the fault's events), the operations succeeding
 * and failing, and the stale reads. Deterministic: the same report gives the same bytes.
 */
import type { LabReport, ModeReport } from "./lab.js";
import { rows } from "./report-text.js";

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const num = (v: number): string => (Math.round(v * 10) / 10).toString();

const ROLE_COLORS: Readonly<Record<string, string>> = {
  leader: "#1f4e9c",
  primary: "#1f4e9c",
  follower: "#8fb3e8",
  replica: "#8fb3e8",
  candidate: "#f0a030",
  "pre-candidate": "#f5c87a",
  fenced: "#8e44ad",
  paused: "#9aa0a6",
  down: "#d93025",
};

const WIDTH = 900;
const LEFT = 70;
const PLOT = WIDTH - LEFT - 10;

function axis(end: number, y: number): string {
  const ticks: string[] = [];
  const step = end / 10;
  for (let i = 0; i <= 10; i++) {
    const x = LEFT + (PLOT * i) / 10;
    ticks.push(`<line x1="${num(x)}" y1="${y}" x2="${num(x)}" y2="${y + 4}" stroke="#555"/><text x="${num(x)}" y="${y + 15}" font-size="10" text-anchor="middle">${num((step * i) / 1_000)} s</text>`);
  }
  return `<line x1="${LEFT}" y1="${y}" x2="${LEFT + PLOT}" y2="${y}" stroke="#555"/>${ticks.join("")}`;
}

function faultBand(m: ModeReport, end: number, height: number): string {
  const f = m.run.fault;
  if (f === null) return "";
  const x = (t: number): number => LEFT + (PLOT * t) / end;
  return `<rect x="${num(x(f.start))}" y="0" width="${num(Math.max(1, x(f.end) - x(f.start)))}" height="${height}" fill="#fdecea" />`;
}

function nodesChart(m: ModeReport, end: number): string {
  const rowH = 18;
  const nodes = m.run.nodes;
  const height = nodes.length * rowH + 40;
  const x = (t: number): number => LEFT + (PLOT * t) / end;
  const parts: string[] = [faultBand(m, end, nodes.length * rowH)];
  const samples = m.run.samples;
  nodes.forEach((node, i) => {
    parts.push(`<text x="${LEFT - 6}" y="${i * rowH + 13}" font-size="11" text-anchor="end">${esc(node)}</text>`);
    for (let s = 0; s < samples.length; s++) {
      const a = samples[s]!;
      const b = samples[s + 1]?.at ?? end;
      const role = a.roles[i] ?? "down";
      const lag = a.lagMs?.[i];
      const title = `${node} ${role}${lag === undefined || lag === null || lag === 0 ? "" : `, ${Math.round(lag)} ms behind`}`;
      parts.push(`<rect x="${num(x(a.at))}" y="${i * rowH + 2}" width="${num(Math.max(0.5, x(b) - x(a.at)))}" height="${rowH - 4}" fill="${ROLE_COLORS[role] ?? "#ccc"}"><title>${esc(title)}</title></rect>`);
      // A node cut off from some of the others: a dark line under its row.
      if (a.partition.length > 0 && !a.partition.some((g) => g.split(",").length === nodes.length)) {
        const group = a.partition.find((g) => g.split(",").includes(node)) ?? "";
        const alone = group.split(",").length <= nodes.length / 2;
        if (alone) parts.push(`<rect x="${num(x(a.at))}" y="${i * rowH + rowH - 3}" width="${num(Math.max(0.5, x(b) - x(a.at)))}" height="2" fill="#000" />`);
      }
    }
  });
  for (const e of m.run.events) {
    parts.push(`<line x1="${num(x(e.at))}" y1="0" x2="${num(x(e.at))}" y2="${nodes.length * rowH}" stroke="#000" stroke-dasharray="3,2"><title>${esc(e.what)}</title></line>`);
  }
  parts.push(axis(end, nodes.length * rowH + 4));
  const legend = Object.entries(ROLE_COLORS)
    .filter(([role]) => samples.some((s) => s.roles.includes(role)))
    .map(([role, color], i) => `<rect x="${LEFT + i * 110}" y="${height - 12}" width="10" height="10" fill="${color}"/><text x="${LEFT + i * 110 + 14}" y="${height - 3}" font-size="10">${esc(role)}</text>`)
    .join("");
  return `<svg width="${WIDTH}" height="${height + 4}" role="img" aria-label="nodes over time">${parts.join("")}${legend}</svg>`;
}

function opsChart(m: ModeReport, end: number, which: "ops" | "stale"): string {
  const h = 90;
  const bins = m.metrics.series.bins;
  const binMs = m.metrics.series.binMs;
  const max = Math.max(1, ...bins.map((b) => (which === "ops" ? b.ok + b.failed + b.unknown : b.stale)));
  const x = (t: number): number => LEFT + (PLOT * t) / end;
  const w = Math.max(0.5, x(binMs) - x(0) - 0.5);
  const y = (v: number): number => (h * v) / max;
  const parts: string[] = [faultBand(m, end, h)];
  for (const b of bins) {
    if (which === "stale") {
      if (b.stale > 0) parts.push(`<rect x="${num(x(b.at))}" y="${num(h - y(b.stale))}" width="${num(w)}" height="${num(y(b.stale))}" fill="#8e44ad"><title>${b.stale} stale reads</title></rect>`);
      continue;
    }
    let top = h;
    for (const [count, color, what] of [
      [b.ok, "#34a853", "answered"],
      [b.failed, "#d93025", "failed"],
      [b.unknown, "#f0a030", "unknown outcome"],
    ] as const) {
      if (count === 0) continue;
      top -= y(count);
      parts.push(`<rect x="${num(x(b.at))}" y="${num(top)}" width="${num(w)}" height="${num(y(count))}" fill="${color}"><title>${count} ${what}</title></rect>`);
    }
  }
  parts.push(`<text x="${LEFT - 6}" y="10" font-size="10" text-anchor="end">${max}</text><text x="${LEFT - 6}" y="${h}" font-size="10" text-anchor="end">0</text>`);
  parts.push(axis(end, h + 2));
  const label = which === "ops" ? "operations per bin: answered (green), failed (red), unknown outcome (amber)" : "stale reads per bin";
  return `<div class="chart-label">${esc(label)} (bins of ${num(binMs)} ms)</div><svg width="${WIDTH}" height="${h + 22}" role="img" aria-label="${esc(label)}">${parts.join("")}</svg>`;
}

function counterexample(m: ModeReport): string {
  const ce = m.metrics.linearizable.counterexample;
  if (ce === null || ce.length === 0) return "";
  const rows = ce
    .map((o) => `<tr><td>${esc(o.client)}</td><td>${esc(`${o.input.kind} ${o.input.key}${o.input.kind === "set" ? ` = ${JSON.stringify(o.input.value)}` : ""}`)}</td><td>${esc(o.output.kind === "value" ? JSON.stringify(o.output.value ?? null) : o.output.kind)}</td><td>${num(o.call)}</td><td>${o.return === null ? "-" : num(o.return)}</td></tr>`)
    .join("");
  return `<details><summary>Counterexample: the smallest part of the history no order explains</summary><table><tr><th>client</th><th>operation</th><th>answer</th><th>called (ms)</th><th>returned (ms)</th></tr>${rows}</table></details>`;
}

function table(report: LabReport): string {
  const modes = report.modes.map((m) => m.metrics);
  const head = `<tr><th></th>${modes.map((m) => `<th>${esc(m.mode)}</th>`).join("")}</tr>`;
  const body = rows(modes)
    .map(([label, ...cells]) => `<tr><th>${esc(label.trim())}</th>${cells.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`)
    .join("");
  return `<table class="summary-table">${head}${body}</table>`;
}

/** The report as a self-contained HTML page. */
export function reportHtml(report: LabReport): string {
  const end = Math.max(1, ...report.modes.map((m) => m.run.end));
  const sections = report.modes
    .map(
      (m) => `<section data-mode="${esc(m.metrics.mode)}">
<h2>${esc(m.metrics.mode)}</h2>
<p class="summary">${esc(m.summary)}</p>
<div class="chart-label">nodes: role over time; dashed lines: the scenario's events (hover for each); black underline: cut off from the majority</div>
${nodesChart(m, end)}
${opsChart(m, end, "ops")}
${opsChart(m, end, "stale")}
${counterexample(m)}
</section>`,
    )
    .join("\n");
  const title = `concord lab: ${report.scenario.name}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:940px;color:#202124}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd}
pre{background:#f6f8fa;padding:12px;overflow-x:auto;font-size:12px}
.summary{margin:6px 0 10px}.chart-label{font-size:12px;color:#555;margin-top:8px}
table{border-collapse:collapse;font-size:12px}.summary-table{font-size:13px;margin:10px 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
</style></head>
<body>
<h1>${esc(title)}</h1>
<p>${esc(report.scenario.summary)}. ${report.nodes} nodes, ${num(report.durationMs / 1_000)} s of ${report.real ? "real time on real processes" : "simulated time"}, seed ${report.seed}; the fault is shaded.${report.bug === null ? "" : ` <strong>A bug is planted in ${esc(report.bug.mode)}: ${esc(report.bug.bug)}.</strong>`}</p>
${table(report)}
${sections}
</body></html>
`;
}
