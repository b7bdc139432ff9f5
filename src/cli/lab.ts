/**
 * `concord lab`: runs one workload on the modes asked for under one fault scenario, in the
 * deterministic simulator (virtual time: minutes of it take seconds; one seed replays a run
 * exactly) or, with `--real`, on real node processes on loopback (the built CLI's, in temp
 * folders: real kills, pauses and link cuts), and prints the comparison (`--json`: every figure;
 * `--out`: an HTML report).
 * Exit codes: 0 done, 1 the run failed, 2 bad usage.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { LAB_MODES, runLab, type LabBug, type WorldFactory } from "../lab/lab.js";
import { labWorlds, realLabWorlds } from "./lab-worlds.js";
import { reportHtml } from "../lab/report-html.js";
import { formatReport, reportJson } from "../lab/report-text.js";
import { namedScenario, parseScenario, SCENARIOS, type Scenario } from "../lab/scenario.js";
import { resolveWorkload } from "../lab/workload.js";
import { runSagaLab, type SagaLabReport } from "../lab/saga-lab.js";
import type { LabMode } from "../lab/world.js";
import { isConcordError } from "../errors.js";
import { integerFlag, parseFlags, UsageError } from "./flags.js";

export const LAB_HELP = `concord lab --scenario <name|file.json> [options]

Runs one workload on eventual, primary and strong mode under the same faults, in the
deterministic simulator (or on real processes with --real), and compares what each did:
availability (per side of a partition), latency, stale reads, acknowledged writes lost,
linearizability, convergence.

Scenarios:
${Object.entries(SCENARIOS)
  .map(([name, s]) => `  ${name.padEnd(17)}${s.summary}`)
  .join("\n")}
  saga-crash       sagas (reserve, charge, ship; some refused by the carrier) run by a coordinator
                   that loses power mid-way and resumes from its disk: every saga must end completed
                   or fully compensated
  <file.json>      your own schedule: { "events": [ { "at": 5000, "kind": "partition",
                   "groups": [["n1","n2"],["n3"]] }, { "at": 12000, "kind": "heal" } ] }
                   (kinds: partition, isolate, one-way, heal, crash, restart, pause, resume, flaky)

Options:
  --seed N                 the run's seed (default 1); the same seed gives the same report
  --modes a,b              modes to run (default eventual,primary,strong)
  --nodes 3|5              nodes per mode (default 3)
  --duration 20s           how long the workload runs (simulated time; real with --real), in s
                           or ms (default 20s)
  --clients N              clients per node (default 2)
  --read-ratio 0.5         share of reads
  --keys 8                 shared keys
  --conflict 0.5           share of operations on the shared keys (the rest on each client's own)
  --value-bytes 16         bytes per value written
  --think-ms 20            pause between a client's operations, up to (ms)
  --out report.html        also write the report as a self-contained HTML page
  --json                   print every figure as JSON instead of the table
  --plant <mode>:<bug>     plant a bug to see the lab catch it: strong:local-reads,
                           strong:early-acks, primary:unfenced (simulator only)
  --real                   run on real processes on loopback instead of the simulator: each
                           node a process of this build (\`concord node\`; eventual: replica
                           processes syncing through \`concord serve\`) with its files in a temp
                           folder, crashes as SIGKILL, pauses as SIGSTOP/SIGCONT, every link
                           through a loopback proxy that cuts it. Takes the --duration in real
                           time; timings vary from run to run, so the seed fixes the schedule and
                           the workload's choices, not the report
`;

const FLAGS = ["scenario", "seed", "modes", "nodes", "duration", "clients", "read-ratio", "keys", "conflict", "value-bytes", "think-ms", "out", "plant"];

function ratioFlag(flags: ReadonlyMap<string, string>, name: string): number | undefined {
  const raw = flags.get(name);
  if (raw === undefined) return undefined;
  const v = /^(0(\.\d+)?|1(\.0+)?)$/.test(raw) ? Number(raw) : NaN;
  if (Number.isNaN(v)) throw new UsageError(`--${name} must be a number from 0 to 1, got ${JSON.stringify(raw)}`);
  return v;
}

function durationFlag(raw: string | undefined): number {
  if (raw === undefined) return 20_000;
  const m = /^(\d+(?:\.\d+)?)(s|ms)?$/.exec(raw);
  const ms = m === null ? NaN : Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1_000 : 1);
  if (!Number.isFinite(ms) || ms < 1_000 || ms > 600_000) throw new UsageError(`--duration must be from 1s to 600s (e.g. 20s or 20000ms), got ${JSON.stringify(raw)}`);
  return Math.round(ms);
}

function modesFlag(raw: string | undefined): LabMode[] {
  if (raw === undefined) return [...LAB_MODES];
  const modes = raw.split(",").map((s) => s.trim());
  for (const m of modes) if (!(LAB_MODES as readonly string[]).includes(m)) throw new UsageError(`--modes takes ${LAB_MODES.join(", ")} (comma-separated), got ${JSON.stringify(m)}`);
  if (new Set(modes).size !== modes.length) throw new UsageError(`--modes names a mode twice: ${JSON.stringify(raw)}`);
  return modes as LabMode[];
}

function plantFlag(raw: string | undefined): LabBug | undefined {
  if (raw === undefined) return undefined;
  switch (raw) {
    case "strong:local-reads":
      return { mode: "strong", bug: "local-reads" };
    case "strong:early-acks":
      return { mode: "strong", bug: "early-acks" };
    case "primary:unfenced":
      return { mode: "primary", bug: "unfenced" };
    default:
      throw new UsageError(`--plant takes strong:local-reads, strong:early-acks or primary:unfenced, got ${JSON.stringify(raw)}`);
  }
}

function scenarioFlag(raw: string | undefined, shape: { durationMs: number; nodes: number }): Scenario {
  if (raw === undefined) throw new UsageError(`lab needs --scenario: one of ${Object.keys(SCENARIOS).join(", ")}, saga-crash, or a JSON file`);
  if (!raw.endsWith(".json")) {
    if (!Object.hasOwn(SCENARIOS, raw)) throw new UsageError(`unknown scenario ${JSON.stringify(raw)}: use one of ${Object.keys(SCENARIOS).join(", ")}, or a .json file`);
    return namedScenario(raw, shape);
  }
  let text: string;
  try {
    text = readFileSync(raw, "utf8");
  } catch (e) {
    throw new UsageError(`--scenario: cannot read ${raw} (${(e as { code?: string }).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--scenario: ${raw} is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  try {
    return parseScenario(json, raw, shape);
  } catch (e) {
    if (isConcordError(e, "InvalidArgument")) throw new UsageError(e.message);
    throw e;
  }
}

/** The saga scenario on each mode: a table (or JSON), and an HTML page with it under `--out`. */
async function sagaLab(worlds: WorldFactory, modes: readonly LabMode[], nodes: number, seed: number, json: boolean, out: string | undefined): Promise<number> {
  const reports: SagaLabReport[] = [];
  for (const mode of modes) {
    process.stderr.write(`concord lab: saga-crash on ${mode}\n`);
    const world = worlds(mode, { seed, size: nodes });
    try {
      reports.push(await runSagaLab(world, { seed, sagas: 40, spacingMs: 20, crashAtMs: 405, downMs: 1_000, refuseShare: 0.25 }));
    } finally {
      await world.close().catch(() => undefined);
    }
  }
  const header = ["mode", "sagas", "completed", "compensated", "unfinished", "inconsistent", "cut by the crash", "all ended after"];
  const rows = reports.map((r) => [r.mode, r.sagas, r.completed, r.compensated, r.unfinished, r.inconsistent.length, r.cutByCrash, `${(r.durationMs / 1_000).toFixed(1)} s`].map(String));
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: readonly string[]): string => r.map((v, c) => v.padEnd(widths[c]!)).join("  ").trimEnd();
  const text = [
    "scenario saga-crash: 40 sagas (reserve, charge, ship), a quarter refused by the carrier; the coordinator loses power at 0.4 s and resumes from its disk 1 s later",
    `${nodes} nodes per mode, seed ${seed}`,
    "",
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
    ...reports.flatMap((r) => r.inconsistent.map((why) => `${r.mode}: ${why}`)),
  ].join("\n");
  process.stdout.write(json ? `${JSON.stringify(reports, null, 2)}\n` : `${text}\n`);
  if (out !== undefined) {
    const esc = (v: string): string => v.replace(/&/g, "&amp;").replace(/</g, "&lt;");
    writeFileSync(out, `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>concord lab: saga-crash</title></head><body><pre>${esc(text)}</pre></body></html>\n`);
    process.stderr.write(`concord lab: report written to ${out}\n`);
  }
  return reports.every((r) => r.unfinished === 0 && r.inconsistent.length === 0) ? 0 : 1;
}

/** Runs `concord lab` with its arguments; returns the exit code. */
export async function lab(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(LAB_HELP);
    return 0;
  }
  const json = args.includes("--json");
  const real = args.includes("--real");
  const flags = parseFlags(
    args.filter((a) => a !== "--json" && a !== "--real"),
    FLAGS,
  );
  const worlds = real ? realLabWorlds : labWorlds;
  const nodes = integerFlag(flags, "nodes", 3, 3, 5);
  if (nodes === 4) throw new UsageError("--nodes must be 3 or 5 (an even count adds no fault tolerance)");
  const durationMs = durationFlag(flags.get("duration"));
  if (flags.get("scenario") === "saga-crash") {
    return sagaLab(worlds, modesFlag(flags.get("modes")), nodes, integerFlag(flags, "seed", 1, 0, 2 ** 31 - 1), json, flags.get("out"));
  }
  const scenario = scenarioFlag(flags.get("scenario"), { durationMs, nodes });
  let workload;
  try {
    workload = resolveWorkload({
      clientsPerNode: integerFlag(flags, "clients", 2, 1, 50),
      keys: integerFlag(flags, "keys", 8, 1, 10_000),
      valueBytes: integerFlag(flags, "value-bytes", 16, 1, 65_536),
      thinkMs: integerFlag(flags, "think-ms", 20, 0, 60_000),
      ...(ratioFlag(flags, "read-ratio") === undefined ? {} : { readRatio: ratioFlag(flags, "read-ratio")! }),
      ...(ratioFlag(flags, "conflict") === undefined ? {} : { conflict: ratioFlag(flags, "conflict")! }),
    });
  } catch (e) {
    if (isConcordError(e, "InvalidArgument")) throw new UsageError(e.message);
    throw e;
  }
  const bug = plantFlag(flags.get("plant"));
  if (real && bug?.mode === "primary") throw new UsageError(`--plant ${bug.mode}:${bug.bug} runs in the simulator only (leave out --real)`);
  const modes = modesFlag(flags.get("modes"));
  const seed = integerFlag(flags, "seed", 1, 0, 2 ** 31 - 1);
  const out = flags.get("out");

  let shown = "";
  const report = await runLab({
    worlds,
    real,
    scenario,
    seed,
    modes,
    nodes,
    durationMs,
    workload,
    ...(bug === undefined ? {} : { bug }),
    onProgress: (mode, done) => {
      const line = `concord lab: ${mode} ${Math.floor(done * 10) * 10}%`;
      if (line === shown) return;
      shown = line;
      process.stderr.write(process.stderr.isTTY ? `\r${line}   ` : `${line}\n`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  process.stdout.write(json ? reportJson(report) : `${formatReport(report)}\n`);
  if (out !== undefined) {
    writeFileSync(out, reportHtml(report));
    process.stderr.write(`concord lab: report written to ${out}\n`);
  }
  return 0;
}
