/**
 * The lab end to end in the simulator (src/lab/): what each mode must show under a minority
 * partition, the planted faults it must catch, and that the same seed gives the same report byte
 * for byte. Short runs (6 s of simulated time, one client per node) keep it to seconds.
 */
import { describe, expect, it } from "vitest";
import { labWorlds } from "../../src/cli/lab-worlds.js";
import { runLab, type LabOptions, type LabReport } from "../../src/lab/lab.js";
import { reportHtml } from "../../src/lab/report-html.js";
import { formatReport, reportJson } from "../../src/lab/report-text.js";
import { EventualWorld } from "../../src/eventual/lab-world.js";
import { resolveWorkload } from "../../src/lab/workload.js";
import { labOptions, metricsOf, side } from "./lab-options.js";

const DURATION = 6_000;

const options = (scenario: string, more: Partial<LabOptions> = {}): LabOptions => labOptions(labWorlds, DURATION, scenario, more);

describe("concord lab under a minority partition", { timeout: 120_000 }, () => {
  let report: LabReport;
  it("runs every mode and reports each", async () => {
    report = await runLab(options("partition"));
    expect(report.modes.map((m) => m.metrics.mode)).toEqual(["eventual", "primary", "strong"]);
    expect(formatReport(report)).toMatch(/stale reads \(oldest\)/);
  });

  it("strong: the minority refuses writes, nothing acknowledged is lost, the history is linearizable", () => {
    const m = metricsOf(report, "strong");
    expect(side(m, "n3").writes.ok).toBe(0);
    expect(side(m, "n3").writes.of).toBeGreaterThan(0);
    expect(side(m, "n1,n2").writes.ok).toBe(side(m, "n1,n2").writes.of);
    expect([m.lostWrites.count, m.staleReads.count, m.linearizable.verdict]).toEqual([0, 0, "ok"]);
    expect(m.convergeMs).not.toBeNull();
  });

  it("primary: the cut-off replica keeps serving reads, stale ones, while writes there fail; nothing acknowledged is lost", () => {
    const m = metricsOf(report, "primary");
    expect(side(m, "n3").reads.ok).toBe(side(m, "n3").reads.of);
    expect(side(m, "n3").reads.of).toBeGreaterThan(0);
    expect(side(m, "n3").writes.ok).toBe(0);
    expect(m.staleReads.count).toBeGreaterThan(0);
    expect(m.lostWrites.count).toBe(0);
    expect(m.convergeMs).not.toBeNull();
    // The cut-off replica says how far behind it is: about the length of the partition (2.4 s).
    expect(m.maxLagMs).toBeGreaterThan(2_000);
    expect(m.maxLagMs).toBeLessThan(3_000);
    expect(report.modes[1]!.summary).toMatch(/Replicas said how far behind they were: up to 2\.\d s\./);
    expect([metricsOf(report, "strong").maxLagMs, metricsOf(report, "eventual").maxLagMs]).toEqual([null, null]);
  });

  it("eventual: every side accepts reads and writes, and the replicas converge after the heal", () => {
    const m = metricsOf(report, "eventual");
    expect(m.availability.during.ok).toBe(m.availability.during.of);
    expect(side(m, "n3").writes.of).toBeGreaterThan(0);
    expect(m.lostWrites.count).toBe(0);
    expect(m.maxDivergentKeys).toBeGreaterThan(0);
    expect(m.convergeMs).not.toBeNull();
    expect(report.modes[0]!.summary).toMatch(/Nothing acknowledged was lost/);
  });
});

describe("planted faults are found", { timeout: 120_000 }, () => {
  it("strong reads served from local state without ReadIndex are flagged non-linearizable, with a counterexample", async () => {
    // The old leader, cut off with its clients, serves their reads from its own state until it steps down.
    const r = await runLab(options("leader-isolated", { modes: ["strong"], bug: { mode: "strong", bug: "local-reads" } }));
    const m = metricsOf(r, "strong");
    expect(m.linearizable.verdict).toBe("violation");
    expect(m.linearizable.counterexample?.length).toBeGreaterThan(1);
    expect(reportHtml(r)).toContain("Counterexample");
  });

  it("a primary that goes on acknowledging writes once fenced loses acknowledged writes; the real one loses none", async () => {
    const two = { workload: resolveWorkload({ clientsPerNode: 2 }) };
    const planted = await runLab(options("leader-isolated", { modes: ["primary"], bug: { mode: "primary", bug: "unfenced" }, ...two }));
    expect(metricsOf(planted, "primary").lostWrites.count).toBeGreaterThan(0);
    const real = await runLab(options("leader-isolated", { modes: ["primary"], ...two }));
    expect(metricsOf(real, "primary").lostWrites.count).toBe(0);
  });
});

describe("replay", { timeout: 120_000 }, () => {
  it("the same seed gives the same report, byte for byte; another seed another", async () => {
    const o = options("flaky", { modes: ["eventual", "strong"] });
    const a = await runLab(o);
    const b = await runLab(o);
    expect(reportJson(b)).toBe(reportJson(a));
    expect(reportHtml(b)).toBe(reportHtml(a));
    const c = await runLab({ ...o, seed: 8 });
    expect(reportJson(c)).not.toBe(reportJson(a));
  });
});

describe("the eventual world", { timeout: 60_000 }, () => {
  it("a write in flight when its replica crashes fails with an unknown outcome instead of hanging; a write on a down replica fails", async () => {
    const world = new EventualWorld({ seed: 1, size: 2 });
    await world.start();
    const client = await world.connect("c", 0);
    const pending = client.set("k", "v1");
    // The write is under way (waiting for its fsync on the simulated disk, whose clock stands still).
    await new Promise<void>((r) => setImmediate(r));
    world.crash(0);
    await expect(pending).rejects.toMatchObject({ code: "Unavailable", details: { outcome: "unknown" } });
    await expect(client.set("k", "v2")).rejects.toMatchObject({ code: "Unavailable", details: { outcome: "not-applied" } });
    await world.close();
  });
});

describe("clients leave a silent writer", { timeout: 120_000 }, () => {
  it("with the leader or primary paused, a request that times out sends the next ones to the new writer, and reads elsewhere", async () => {
    // 20 s, so that the pause (7 s) is long next to a timeout (1 s).
    const r = await runLab(labOptions(labWorlds, 20_000, "pause", { modes: ["primary", "strong"] }));
    const strong = metricsOf(r, "strong").availability.during;
    const primary = metricsOf(r, "primary").availability.during;
    console.log(`pause: strong answered ${strong.ok} of ${strong.of}, primary ${primary.ok} of ${primary.of}`);
    // Only the requests in flight when it froze, and those sent before the others found the new
    // writer, wait out their timeout (before: every request of the pause did). Primary's reads go
    // to the replicas in turn, the frozen old primary skipped once a read to it timed out.
    expect(strong.ok / strong.of).toBeGreaterThan(0.9);
    expect(primary.ok / primary.of).toBeGreaterThan(0.9);
  });
});
