/**
 * `concord lab` as a person runs it: a short run prints the table (or JSON) and writes the HTML
 * report; every bad flag or scenario file is refused with exit 2 and a message naming it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { concord } from "./run-cli.js";

const dir = mkdtempSync(join(tmpdir(), "concord-lab-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("concord lab", { timeout: 60_000 }, () => {
  it("--help lists every scenario with a line each", async () => {
    const r = await concord("lab", "--help");
    expect(r.code).toBe(0);
    for (const name of ["partition", "leader-isolated", "leader-crash", "flaky", "pause", "asymmetric", "rolling-restarts", "saga-crash"]) expect(r.stdout).toMatch(new RegExp(`\\n  ${name} +\\S`));
  });

  it("prints the table and writes a self-contained HTML report", async () => {
    const out = join(dir, "report.html");
    const r = await concord("lab", "--scenario", "partition", "--seed", "3", "--duration", "3s", "--clients", "1", "--modes", "strong,eventual", "--out", out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^scenario partition: /);
    expect(r.stdout).toMatch(/\n\s+strong\s+eventual\n/);
    expect(r.stdout).toMatch(/acknowledged writes lost\s+0\s+0/);
    expect(r.stderr).toMatch(/concord lab: strong 100%/);
    const html = readFileSync(out, "utf8");
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|https?:\/\//);
    expect(html).toContain('data-mode="strong"');
  });

  it("saga-crash: every saga on every mode ends completed or compensated, the crash having cut some under way", async () => {
    const r = await concord("lab", "--scenario", "saga-crash", "--seed", "7", "--json");
    expect(r.code).toBe(0);
    const reports = JSON.parse(r.stdout) as { mode: string; sagas: number; completed: number; compensated: number; unfinished: number; inconsistent: string[]; cutByCrash: number }[];
    expect(reports.map((x) => x.mode)).toEqual(["eventual", "primary", "strong"]);
    for (const x of reports) {
      expect([x.mode, x.unfinished, x.inconsistent, x.completed + x.compensated]).toEqual([x.mode, 0, [], x.sagas]);
      expect(x.cutByCrash).toBeGreaterThan(0);
    }
  });

  it("--json prints every figure as JSON", async () => {
    const r = await concord("lab", "--scenario", "flaky", "--duration", "2s", "--clients", "1", "--modes", "eventual", "--json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { scenario: { name: string }; modes: { metrics: { mode: string; ops: { total: number } } }[] };
    expect(report.scenario.name).toBe("flaky");
    expect(report.modes[0]?.metrics.ops.total).toBeGreaterThan(0);
  });

  it("runs a custom schedule from a JSON file", async () => {
    const file = join(dir, "custom.json");
    writeFileSync(file, JSON.stringify({ summary: "n3 crashes", events: [{ at: 500, kind: "crash", node: "n3" }, { at: 1500, kind: "restart", node: "n3" }] }));
    const r = await concord("lab", "--scenario", file, "--duration", "2s", "--clients", "1", "--modes", "strong");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("n3 crashes");
  });

  it("--real runs on real processes of this build, and the report says so", async () => {
    const r = await concord("lab", "--scenario", "partition", "--real", "--duration", "3s", "--clients", "1", "--modes", "strong", "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { real: boolean; modes: { metrics: { mode: string; lostWrites: { count: number }; linearizable: { verdict: string } } }[] };
    expect(report.real).toBe(true);
    expect(report.modes.map((m) => [m.metrics.mode, m.metrics.lostWrites.count, m.metrics.linearizable.verdict])).toEqual([["strong", 0, "ok"]]);
    const table = await concord("lab", "--scenario", "partition", "--real", "--duration", "2s", "--clients", "1", "--modes", "eventual");
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/3 nodes, 2 s of real time on real processes, seed 1/);
  });

  it("refuses bad flags and bad scenario files with exit 2, naming what is wrong", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ events: [{ at: 100, kind: "crash", node: "n9" }] }));
    const notJson = join(dir, "not.json");
    writeFileSync(notJson, "{ nope");
    const cases: [string[], RegExp][] = [
      [[], /lab needs --scenario/],
      [["--scenario", "meteor"], /unknown scenario "meteor": use one of partition/],
      [["--scenario", join(dir, "missing.json")], /cannot read .*missing\.json \(ENOENT\)/],
      [["--scenario", notJson], /not\.json is not JSON/],
      [["--scenario", bad], /events\[0\]\.node must be one of n1, n2, n3, leader, got "n9"/],
      [["--scenario", "partition", "--nodes", "4"], /--nodes must be 3 or 5/],
      [["--scenario", "partition", "--modes", "eventual,quantum"], /--modes takes eventual, primary, strong/],
      [["--scenario", "partition", "--duration", "soon"], /--duration must be from 1s to 600s/],
      [["--scenario", "partition", "--read-ratio", "1.5"], /--read-ratio must be a number from 0 to 1/],
      [["--scenario", "partition", "--plant", "strong:gremlins"], /--plant takes strong:local-reads/],
      [["--scenario", "partition", "--seed", "-1"], /--seed must be an integer/],
      [["--scenario", "partition", "--colour", "red"], /unknown flag --colour/],
      [["--scenario", "partition", "--real", "--plant", "primary:unfenced"], /--plant primary:unfenced runs in the simulator only/],
    ];
    for (const [args, message] of cases) {
      const r = await concord("lab", ...args);
      expect([args, r.code, r.stderr]).toEqual([args, 2, expect.stringMatching(message)]);
    }
  });
});
