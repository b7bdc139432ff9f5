/**
 * The lab on real processes (`concord lab --real`): the BUILT CLI's nodes (`npm test` builds
 * first) on loopback with real files, links through loopback proxies, real SIGKILLs. Timing is
 * real, so these check what must hold whatever the timing (nothing acknowledged lost, the minority
 * refusing, the cut-off replica serving stale reads and saying how far behind it is, convergence),
 * not figures. Short runs (5 s each, one client per node).
 */
import { describe, expect, it } from "vitest";
import { realWorldsAt } from "../../src/cli/lab-worlds.js";
import { runLab, type LabOptions, type LabReport } from "../../src/lab/lab.js";
import { labOptions, metricsOf, side } from "./lab-options.js";

const DURATION = 5_000;
const worlds = realWorldsAt("dist/cli/main.js");

const options = (scenario: string, more: Partial<LabOptions> = {}): LabOptions => labOptions(worlds, DURATION, scenario, { real: true, ...more });

/** Every role a node had in the run's samples. */
const rolesOf = (r: LabReport, mode: string, node: number): Set<string> => new Set(r.modes.find((m) => m.metrics.mode === mode)!.run.samples.map((s) => s.roles[node]!));

describe("concord lab --real under a minority partition", { timeout: 180_000 }, () => {
  let report: LabReport;
  it("runs every mode on real processes and says so", async () => {
    report = await runLab(options("partition"));
    expect(report.real).toBe(true);
    expect(report.modes.map((m) => m.metrics.mode)).toEqual(["eventual", "primary", "strong"]);
    for (const m of report.modes) expect(m.run.ops.length, m.metrics.mode).toBeGreaterThan(50);
  });

  it("strong: the minority refuses writes, nothing acknowledged is lost, the history is linearizable", () => {
    const m = metricsOf(report, "strong");
    const run = report.modes[2]!.run;
    // Acknowledged while cut off (one called then may still succeed once the network heals).
    const minorityAcks = run.ops.filter((o) => o.side === "n3" && o.outcome === "ok" && o.return! < run.fault!.end);
    expect(minorityAcks).toEqual([]);
    expect(side(m, "n3").writes.of + side(m, "n3").reads.of).toBeGreaterThan(0);
    expect(side(m, "n1,n2").writes.ok).toBeGreaterThan(0);
    expect([m.lostWrites.count, m.staleReads.count, m.linearizable.verdict]).toEqual([0, 0, "ok"]);
    expect(m.convergeMs).not.toBeNull();
  });

  it("primary: the cut-off replica serves stale reads and reports its lag, its writes fail, nothing acknowledged is lost", () => {
    const m = metricsOf(report, "primary");
    expect(side(m, "n3").reads.of).toBeGreaterThan(0);
    expect(side(m, "n3").reads.ok).toBe(side(m, "n3").reads.of);
    const run = report.modes[1]!.run;
    expect(run.ops.filter((o) => o.side === "n3" && o.kind === "set" && o.outcome === "ok" && o.return! < run.fault!.end)).toEqual([]);
    expect(m.staleReads.count).toBeGreaterThan(0);
    expect(m.lostWrites.count).toBe(0);
    // The partition lasts 2 s: the replica says it has not heard its primary for most of it.
    expect(m.maxLagMs).toBeGreaterThan(1_000);
    expect(m.convergeMs).not.toBeNull();
  });

  it("eventual: every side accepts writes, nothing acknowledged is lost, the replicas converge", () => {
    const m = metricsOf(report, "eventual");
    expect(m.availability.during.ok).toBe(m.availability.during.of);
    expect(side(m, "n3").writes.of).toBeGreaterThan(0);
    expect(m.lostWrites.count).toBe(0);
    expect(m.convergeMs).not.toBeNull();
  });
});

describe("concord lab --real: crashes and failover", { timeout: 180_000 }, () => {
  it("eventual: a replica's process SIGKILLed and restarted loses nothing it acknowledged; its app is down with it; all converge", async () => {
    const r = await runLab(options("leader-crash", { modes: ["eventual"] }));
    const m = metricsOf(r, "eventual");
    expect(rolesOf(r, "eventual", 0).has("down")).toBe(true);
    expect(m.lostWrites.count).toBe(0);
    expect(m.convergeMs).not.toBeNull();
    // While it is down, its app is down with it: those operations fail.
    expect(m.availability.during.ok).toBeLessThan(m.availability.during.of);
  });

  it("primary: the sentinels promote a replica when the primary is isolated; healed, the old primary follows; nothing acknowledged is lost", async () => {
    const r = await runLab(options("leader-isolated", { modes: ["primary"] }));
    const m = metricsOf(r, "primary");
    const promoted = [1, 2].some((i) => rolesOf(r, "primary", i).has("primary"));
    expect(promoted, JSON.stringify(r.modes[0]!.run.samples.map((s) => s.roles.join(",")))).toBe(true);
    // Once healed, the old primary heard of the newer epoch and follows.
    expect(r.modes[0]!.run.samples.at(-1)!.roles[0]).toBe("replica");
    expect(m.lostWrites.count).toBe(0);
    expect(m.convergeMs).not.toBeNull();
  });
});
