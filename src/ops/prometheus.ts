/**
 * The Prometheus text exposition format (version 0.0.4), written by hand: every Concord server's
 * `GET /metrics` (the sync server, the node servers of every mode) renders through this. A handful
 * of counters, gauges and histograms need no library.
 *
 * A metric is a {@link MetricFamily}: HELP and TYPE lines, then its samples. {@link Histogram}
 * counts observations into fixed buckets (cumulative, as the format wants them).
 */

/** The `Content-Type` of {@link renderMetrics}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label names to values. */
export type Labels = Readonly<Record<string, string>>;

/** One sample: its labels and value. */
export type Sample = readonly [labels: Labels, value: number];

/** A histogram's reading: cumulative counts per upper bound (`+Inf` implied), their sum and count. */
export interface HistogramSnapshot {
  readonly bounds: readonly number[];
  /** Observations at or below each of `bounds`, cumulative. */
  readonly buckets: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** One metric: a counter or gauge with its samples, or a histogram. Names follow `concord_<what>[_total|_seconds]`. */
export type MetricFamily =
  | { readonly name: string; readonly type: "counter" | "gauge"; readonly help: string; readonly samples: readonly Sample[] }
  | { readonly name: string; readonly type: "histogram"; readonly help: string; readonly histogram: HistogramSnapshot };

/** A counter or gauge with one unlabelled sample. */
export function single(name: string, type: "counter" | "gauge", help: string, value: number): MetricFamily {
  return { name, type, help, samples: [[{}, value]] };
}

/** `families` in the text format, each with HELP and TYPE, ending with a newline. */
export function renderMetrics(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type !== "histogram") {
      for (const [labels, value] of f.samples) out.push(`${f.name}${labelText(labels)} ${valueText(value)}`);
      continue;
    }
    const h = f.histogram;
    h.bounds.forEach((le, i) => out.push(`${f.name}_bucket{le="${le}"} ${h.buckets[i]}`));
    out.push(`${f.name}_bucket{le="+Inf"} ${h.count}`, `${f.name}_sum ${valueText(h.sum)}`, `${f.name}_count ${h.count}`);
  }
  return `${out.join("\n")}\n`;
}

/** Upper bounds (seconds) for latencies of disk writes and requests: 0.5 ms to 2.5 s. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Observations counted into fixed buckets. Only ever grows. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #buckets: number[];
  #sum = 0;
  #count = 0;

  /** `bounds`: increasing upper bounds; `+Inf` is implied. */
  constructor(bounds: readonly number[] = LATENCY_BUCKETS_SECONDS) {
    this.#bounds = bounds;
    this.#buckets = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.#count++;
    this.#sum += value;
    for (let i = 0; i < this.#bounds.length; i++) if (value <= this.#bounds[i]!) this.#buckets[i]!++;
  }

  snapshot(): HistogramSnapshot {
    return { bounds: this.#bounds, buckets: [...this.#buckets], sum: this.#sum, count: this.#count };
  }
}

/** `{a="x",b="y"}`, or nothing for no labels; values escape backslash, double quote and newline. */
function labelText(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** HELP text escapes backslash and newline. */
function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function valueText(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return Number.isNaN(value) ? "NaN" : String(value);
}
