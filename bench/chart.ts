/**
 * Line charts as self-contained SVG, for benchmarks that plot a figure against a growing size
 * (`scale.ts`): one panel per metric, x on a log scale, one line per system, every point labelled
 * with its value. Pure: data in, SVG text out.
 */

export interface Series {
  readonly name: string;
  /** [x, y] points, x > 0. */
  readonly points: readonly (readonly [number, number])[];
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
}

const W = 420;
const H = 260;
const M = { left: 56, right: 36, top: 34, bottom: 44 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** One panel's SVG group, drawn at (`x0`, `y0`). */
function panel(p: Panel, x0: number, y0: number): string {
  const points = p.series.flatMap((s) => s.points);
  if (points.length === 0) return "";
  const xs = points.map(([x]) => Math.log10(x));
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  const yMax = Math.max(...points.map(([, y]) => y)) * 1.15 || 1;
  const px = (x: number): number => x0 + M.left + ((Math.log10(x) - xMin) / (xMax - xMin || 1)) * (W - M.left - M.right);
  const py = (y: number): number => y0 + H - M.bottom - (y / yMax) * (H - M.top - M.bottom);
  const out: string[] = [];
  out.push(`<text x="${x0 + W / 2}" y="${y0 + 18}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  out.push(`<line x1="${x0 + M.left}" y1="${py(0)}" x2="${x0 + W - M.right}" y2="${py(0)}" stroke="#888"/>`);
  out.push(`<line x1="${x0 + M.left}" y1="${y0 + M.top}" x2="${x0 + M.left}" y2="${py(0)}" stroke="#888"/>`);
  for (const x of [...new Set(points.map(([x]) => x))]) {
    out.push(`<text x="${px(x)}" y="${py(0) + 16}" text-anchor="middle" font-size="11">${x.toLocaleString("en-US")}</text>`);
  }
  out.push(`<text x="${x0 + W / 2}" y="${y0 + H - 6}" text-anchor="middle" font-size="11">${esc(p.xLabel)}</text>`);
  out.push(`<text x="${x0 + 14}" y="${y0 + H / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${x0 + 14} ${y0 + H / 2})">${esc(p.yLabel)}</text>`);
  p.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const path = s.points.map(([x, y], k) => `${k === 0 ? "M" : "L"}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    out.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const [x, y] of s.points) {
      out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
      // Labels of the first series above their points, of the others below: close values stay readable.
      out.push(`<text x="${px(x).toFixed(1)}" y="${(py(y) + (i === 0 ? -6 : 14)).toFixed(1)}" text-anchor="middle" font-size="10" fill="${colour}">${fmt(y)}</text>`);
    }
    out.push(`<rect x="${x0 + M.left + 8}" y="${y0 + M.top + i * 14}" width="10" height="3" fill="${colour}"/>`);
    out.push(`<text x="${x0 + M.left + 22}" y="${y0 + M.top + 4 + i * 14}" font-size="11">${esc(s.name)}</text>`);
  });
  return out.join("\n");
}

/** The panels in a grid of `columns`, under `title`, as one SVG document. */
export function chartSvg(title: string, panels: readonly Panel[], columns = 2): string {
  const rows = Math.ceil(panels.length / columns);
  const width = W * columns;
  const height = 30 + H * rows;
  const body = panels.map((p, i) => panel(p, (i % columns) * W, 30 + Math.floor(i / columns) * H)).join("\n");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    body,
    "</svg>",
    "",
  ].join("\n");
}
