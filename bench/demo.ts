/**
 * `npm run bench -- demo`: what the browser side costs. (1) Bundle sizes, minified and gzipped, of
 * an app on Concord's eventual mode (openEventualStore + IndexedDB + sync), of one using openStore
 * (all three modes), against the peer: the same app on raw Yjs with y-websocket's provider.
 * (2) The demo page served by the sync server on loopback, loaded in Debian's Chromium in fresh
 * contexts (empty IndexedDB), then reloaded (its document from IndexedDB): time to the page's load
 * event and to the app being usable (its store open, first render done). Needs `npm run build`
 * (dist/ and dist/demo/); skips the page part, saying so, without /usr/bin/chromium.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { startServer } from "../src/server/server.js";
import { median, round, writeResults } from "./harness.js";

const ROOT = resolve(import.meta.dirname, "..");
const LOADS = Number(process.env["BENCH_LOADS"] ?? 10);

const APPS: Record<string, string> = {
  "raw Yjs + y-websocket (peer)": `import * as Y from "yjs"; import { WebsocketProvider } from "y-websocket";
    const doc = new Y.Doc(); const p = new WebsocketProvider("ws://localhost:4321", "todos", doc);
    doc.getMap("concord").set("greeting", "hello"); export { p };`,
  "Concord eventual (openEventualStore + IndexedDB + sync)": `import { openEventualStore, indexedDbStorage } from "concord-store";
    const s = await openEventualStore({ mode: "eventual", doc: "todos", persistence: indexedDbStorage(), sync: { url: "ws://localhost:4321" } });
    await s.set("greeting", "hello");`,
  "Concord, all modes (openStore)": `import { openStore, indexedDbStorage } from "concord-store";
    const s = await openStore({ mode: "eventual", doc: "todos", persistence: indexedDbStorage(), sync: { url: "ws://localhost:4321" } });
    await s.set("greeting", "hello");`,
};

async function bundleSizes(): Promise<Array<{ app: string; minified: number; gzipped: number }>> {
  const dir = mkdtempSync(join(tmpdir(), "concord-bench-bundle-"));
  try {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(ROOT, join(dir, "node_modules", "concord-store"), "dir");
    const rows = [];
    for (const [app, source] of Object.entries(APPS)) {
      const entry = join(dir, `app-${rows.length}.ts`);
      writeFileSync(entry, source);
      const out = await build({ entryPoints: [entry], absWorkingDir: dir, nodePaths: [join(ROOT, "node_modules")], bundle: true, platform: "browser", format: "esm", minify: true, write: false, logLevel: "silent" });
      const bytes = out.outputFiles[0]!.contents;
      rows.push({ app, minified: bytes.byteLength, gzipped: gzipSync(bytes).byteLength });
      process.stdout.write(`  bundled: ${app}\n`);
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Load {
  readonly loadMs: number;
  readonly readyMs: number;
}

async function pageLoads(): Promise<{ fresh: Load[]; reload: Load[] } | { skipped: string }> {
  if (!existsSync("/usr/bin/chromium")) return { skipped: "no /usr/bin/chromium (apt-get install -y chromium)" };
  const data = mkdtempSync(join(tmpdir(), "concord-bench-demo-"));
  const server = await startServer({ port: 0, dataDir: data, staticDir: join(ROOT, "dist/demo"), onLog: () => undefined });
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  const url = `${server.url.replace(/^ws/, "http")}/?doc=bench`;
  const measure = async (page: import("playwright-core").Page): Promise<Load> => {
    await page.waitForSelector("body[data-ready=true]");
    return page.evaluate(() => ({
      loadMs: (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).loadEventEnd,
      readyMs: Number(document.body.dataset["readyMs"]),
    }));
  };
  try {
    const fresh: Load[] = [];
    const reload: Load[] = [];
    for (let i = 0; i < LOADS; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(url);
      fresh.push(await measure(page));
      await page.reload();
      reload.push(await measure(page));
      await context.close();
      process.stdout.write(`  page load ${i + 1}/${LOADS}: ready in ${fresh.at(-1)!.readyMs.toFixed(0)} ms (reload ${reload.at(-1)!.readyMs.toFixed(0)} ms)\n`);
    }
    return { fresh, reload };
  } finally {
    await browser.close();
    await server.close();
    rmSync(data, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  if (!existsSync(join(ROOT, "dist/demo/index.html"))) throw new Error("dist/demo is missing: run `npm run build` first");
  console.log("demo: bundle sizes");
  const sizes = await bundleSizes();
  const peer = sizes[0]!;
  console.log("\n| app | minified | gzipped | gzipped vs peer |\n|---|---|---|---|");
  for (const s of sizes) console.log(`| ${s.app} | ${(s.minified / 1024).toFixed(1)} KiB | ${(s.gzipped / 1024).toFixed(1)} KiB | ${(s.gzipped / peer.gzipped).toFixed(2)}x |`);
  console.log(`\ndemo: the page, ${LOADS} fresh loads and reloads in Chromium`);
  const loads = await pageLoads();
  let page: Record<string, unknown>;
  if ("skipped" in loads) {
    console.log(`  skipped: ${loads.skipped}`);
    page = loads;
  } else {
    const summary = (xs: Load[]) => ({ loadMs: round(median(xs.map((x) => x.loadMs)), 1), readyMs: round(median(xs.map((x) => x.readyMs)), 1) });
    page = { fresh: summary(loads.fresh), reload: summary(loads.reload), samples: loads };
    console.log("\n| page (median) | load event | usable (store open, rendered) |\n|---|---|---|");
    console.log(`| first visit (empty IndexedDB) | ${summary(loads.fresh).loadMs} ms | ${summary(loads.fresh).readyMs} ms |`);
    console.log(`| reload (document from IndexedDB) | ${summary(loads.reload).loadMs} ms | ${summary(loads.reload).readyMs} ms |`);
  }
  console.log(`\nresults: ${writeResults("demo", { sizes, page })}`);
}
