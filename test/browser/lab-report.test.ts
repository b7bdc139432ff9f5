/**
 * The lab's HTML report looked at in real Chromium (Debian's, driven by playwright-core): one
 * section per mode, each with its three time lines drawn at full width and a plain-words summary;
 * nothing fetched from anywhere. `UPDATE_SCREENSHOT=1` writes docs/lab.png (the README's picture).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labWorlds } from "../../src/cli/lab-worlds.js";
import { runLab } from "../../src/lab/lab.js";
import { reportHtml } from "../../src/lab/report-html.js";
import { namedScenario } from "../../src/lab/scenario.js";
import { resolveWorkload } from "../../src/lab/workload.js";
import { launchChromium } from "./chromium.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "concord-lab-report-"));
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the lab report in Chromium", { timeout: 120_000 }, () => {
  it("shows each mode's summary and time lines, fetching nothing", async () => {
    const durationMs = 10_000;
    const report = await runLab({
      worlds: labWorlds,
      scenario: namedScenario("partition", { durationMs, nodes: 3 }),
      seed: 7,
      modes: ["eventual", "primary", "strong"],
      nodes: 3,
      durationMs,
      workload: resolveWorkload({ clientsPerNode: 1 }),
    });
    const file = join(dir, "report.html");
    writeFileSync(file, reportHtml(report));
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(`file://${file}`);
    const sections = await page.$$eval("section[data-mode]", (els) =>
      els.map((s) => ({
        mode: s.getAttribute("data-mode"),
        summary: s.querySelector(".summary")?.textContent ?? "",
        charts: Array.from(s.querySelectorAll("svg")).map((svg) => Math.round(svg.getBoundingClientRect().width)),
        bars: s.querySelectorAll("svg rect").length,
      })),
    );
    expect(sections.map((s) => s.mode)).toEqual(["eventual", "primary", "strong"]);
    for (const s of sections) {
      expect(s.charts).toEqual([900, 900, 900]);
      expect(s.bars).toBeGreaterThan(50);
      expect(s.summary).toMatch(/During the fault .* Nothing acknowledged was lost\./);
    }
    expect(await page.$$eval(".summary-table tr", (rows) => rows.length)).toBeGreaterThan(10);
    expect(requests.filter((u) => !u.startsWith("file://"))).toEqual([]);
    if (process.env["UPDATE_SCREENSHOT"] === "1") await page.screenshot({ path: join(ROOT, "docs/lab.png"), fullPage: true });
    await page.close();
  });
});
