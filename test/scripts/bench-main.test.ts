/**
 * `npm run bench`'s entry as a person meets it: `--help` lists every benchmark with what it
 * measures, its options and how long it takes; an unknown name exits 2 naming the known ones. And
 * the SVG charts the scaling benchmark writes (`bench/chart.ts`, pure).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { chartSvg } from "../../bench/chart.js";

const exec = promisify(execFile);

async function bench(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ["--import", "tsx", "bench/main.ts", ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const NAMES = ["eventual-local", "sync", "retained-heap", "raft-core", "primary", "strong", "scale-out", "scale", "demo"];

describe("npm run bench", { timeout: 60_000 }, () => {
  it("--help lists every benchmark with what it measures, its options and about how long it takes", async () => {
    const r = await bench("--help");
    expect(r.code).toBe(0);
    for (const name of NAMES) expect(r.stdout).toMatch(new RegExp(`\\n${name} \\(about \\d+ (s|min)\\)\\n    \\S`));
    expect(r.stdout).toMatch(/BENCH_SCALE_CLIENTS=10,100,1000/);
    expect(r.stdout).toMatch(/all of them when none is named/);
  });

  it("an unknown benchmark exits 2, naming the known ones", async () => {
    const r = await bench("nope");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown benchmark\(s\): nope; known: eventual-local, sync, .*--help says more/);
  });
});

describe("chartSvg", () => {
  it("draws a panel per metric, a line and a labelled point per value, on a log x axis", () => {
    const svg = chartSvg("title & more", [
      { title: "a", xLabel: "keys", yLabel: "us", series: [{ name: "raw", points: [[10, 1], [1_000, 3]] }, { name: "ours", points: [[10, 2], [1_000, 4.5]] }] },
      { title: "b", xLabel: "clients", yLabel: "KB", series: [{ name: "stock", points: [[10, 20]] }] },
    ]);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain("title &amp; more");
    expect(svg.match(/<path /g)).toHaveLength(3);
    expect(svg.match(/<circle /g)).toHaveLength(5);
    expect(svg).toContain(">4.50</text>");
    expect(svg).toContain(">1,000</text>");
    // log scale: 100 would sit halfway between 10 and 1,000; the two x ticks are at the panel's ends.
    const xs = [...svg.matchAll(/<circle cx="([\d.]+)"/g)].slice(0, 2).map((m) => Number(m[1]));
    expect(xs[0]).toBeLessThan(xs[1]!);
  });
});
