/**
 * The demo app in real Chromium (Debian's package, driven by playwright-core), served by the sync
 * server from the built files (`npm run build` puts them in dist/demo/, as `concord serve` serves
 * them): pages in separate browser contexts (separate IndexedDB) sync todos, notes and presence
 * through the server; a stock y-websocket client in Node sees the pages' edits and they see its;
 * a page that goes offline keeps editing across a reload and converges when back; acknowledged
 * writes survive a browser restart; the server restarts under the pages and nothing is lost.
 *
 * No sleeps: every wait is on the page's DOM or the server, bounded by playwright's timeouts.
 * `UPDATE_SCREENSHOT=1` writes docs/demo.png (the README's picture) from the first test.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { startServer, type SyncServer } from "../../src/server/server.js";
import { launchChromium, launchPersistent } from "./chromium.js";

const ROOT = resolve(import.meta.dirname, "../..");
const DEMO = join(ROOT, "dist/demo");
const TIMEOUT = 15_000;

let browser: Browser;
const cleanups: Array<() => unknown> = [];
let docCount = 0;

beforeAll(async () => {
  if (!existsSync(join(DEMO, "index.html"))) throw new Error("dist/demo is missing: run `npm run build` first (npm test does)");
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "concord-demo-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function serveDemo(dataDir = tempDir(), port = 0): Promise<SyncServer> {
  const server = await startServer({ port, dataDir, staticDir: DEMO, onLog: () => undefined });
  cleanups.push(() => server.close());
  return server;
}

/** A fresh document name per test, so pages of different tests never meet. */
const freshDoc = (): string => `demo-${process.pid}-${++docCount}`;

const pageUrl = (server: SyncServer, doc: string): string => `${server.url.replace(/^ws/, "http")}/?doc=${encodeURIComponent(doc)}`;

/** Opens the demo in a new context (its own IndexedDB) and waits until its store is open. */
async function openPage(server: SyncServer, doc: string, context?: BrowserContext): Promise<Page> {
  const ctx = context ?? (await browser.newContext());
  if (context === undefined) cleanups.push(() => ctx.close());
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  cleanups.push(() => expect(errors, "uncaught errors in the page").toEqual([]));
  await page.goto(pageUrl(server, doc));
  await page.waitForSelector("body[data-ready=true]", { timeout: TIMEOUT });
  return page;
}

async function setName(page: Page, name: string): Promise<void> {
  const input = page.getByTestId("name");
  await input.fill(name);
  await input.dispatchEvent("change");
}

async function addTodo(page: Page, text: string): Promise<void> {
  await page.getByTestId("new-todo").fill(text);
  await page.getByTestId("new-todo").press("Enter");
}

const todoTexts = (page: Page) => page.getByTestId("todo-text");
const connection = (page: Page) => page.getByTestId("connection");

/** A stock y-websocket client (the `ws` package in Node) on `doc`. */
function stockClient(server: SyncServer, doc: string): { doc: Y.Doc; map: Y.Map<unknown> } {
  const ydoc = new Y.Doc();
  const provider = new WebsocketProvider(server.url, doc, ydoc, { WebSocketPolyfill: WebSocket as never, disableBc: true });
  cleanups.push(() => {
    provider.destroy();
    ydoc.destroy();
  });
  return { doc: ydoc, map: ydoc.getMap("concord") };
}

function until(what: string, check: () => boolean, ydoc: Y.Doc): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ydoc.off("update", poke);
      reject(new Error(`timed out waiting for ${what}`));
    }, TIMEOUT);
    const poke = (): void => {
      if (!check()) return;
      clearTimeout(timer);
      ydoc.off("update", poke);
      resolve();
    };
    ydoc.on("update", poke);
    poke();
  });
}

describe("the demo app in Chromium", () => {
  it("two pages sync todos, notes and presence through the server; a stock y-websocket client in Node sees them, and they see it", async () => {
    const server = await serveDemo();
    const doc = freshDoc();
    const ada = await openPage(server, doc);
    const bob = await openPage(server, doc);
    await setName(ada, "Ada");
    await setName(bob, "Bob");
    await expect.poll(() => bob.locator('[data-testid=presence] li[data-name="Ada"]').count(), { timeout: TIMEOUT }).toBe(1);
    await expect.poll(() => ada.locator('[data-testid=presence] li[data-name="Bob"]').count(), { timeout: TIMEOUT }).toBe(1);
    await expect.poll(() => connection(ada).textContent(), { timeout: TIMEOUT }).toBe("open");

    await addTodo(ada, "buy milk");
    await expect.poll(() => todoTexts(bob).allTextContents(), { timeout: TIMEOUT }).toEqual(["buy milk"]);
    await bob.getByTestId("todo-done").first().check();
    await expect.poll(() => ada.getByTestId("todo-done").first().isChecked(), { timeout: TIMEOUT }).toBe(true);
    await ada.getByTestId("notes").fill("eggs, flour");
    await expect.poll(() => bob.getByTestId("notes").inputValue(), { timeout: TIMEOUT }).toBe("eggs, flour");

    // A stock client in Node: it sees the pages' todo, and the pages see its own.
    const stock = stockClient(server, doc);
    const todoOf = (text: string) => [...stock.map.entries()].find(([k, v]) => k.startsWith("todo:") && (v as { text?: string }).text === text);
    await until("the page's todo at the stock client", () => todoOf("buy milk") !== undefined, stock.doc);
    const [key] = todoOf("buy milk")!;
    const list = key.split(":")[1]!;
    stock.map.set(`todo:${list}:zzzz-node`, { text: "from node", done: false, created: Date.now() });
    await expect.poll(() => todoTexts(ada).allTextContents(), { timeout: TIMEOUT }).toEqual(["buy milk", "from node"]);
    await expect.poll(() => todoTexts(bob).allTextContents(), { timeout: TIMEOUT }).toEqual(["buy milk", "from node"]);
    expect(stock.doc.getText(`notes:${list}`).toString()).toBe("eggs, flour");

    if (process.env["UPDATE_SCREENSHOT"] === "1") await ada.screenshot({ path: join(ROOT, "docs/demo.png") });
  }, 60_000);

  it("offline, a page keeps editing, gets its edits back from IndexedDB after a reload, and converges when back online", async () => {
    const server = await serveDemo();
    const doc = freshDoc();
    const ada = await openPage(server, doc);
    const bob = await openPage(server, doc);
    await addTodo(bob, "before");
    await expect.poll(() => todoTexts(ada).allTextContents(), { timeout: TIMEOUT }).toEqual(["before"]);

    await ada.getByTestId("offline-toggle").check();
    await expect.poll(() => connection(ada).textContent(), { timeout: TIMEOUT }).toBe("offline");
    await addTodo(ada, "written offline");
    await expect.poll(() => ada.getByTestId("pending").textContent(), { timeout: TIMEOUT }).not.toBe("0");
    await addTodo(bob, "meanwhile online");

    await ada.reload();
    await ada.waitForSelector("body[data-ready=true]", { timeout: TIMEOUT });
    expect(await connection(ada).textContent()).toBe("offline");
    expect(await todoTexts(ada).allTextContents()).toEqual(["before", "written offline"]);
    expect(await todoTexts(bob).allTextContents()).toEqual(["before", "meanwhile online"]);

    await ada.getByTestId("offline-toggle").uncheck();
    const all = ["before", "written offline", "meanwhile online"];
    await expect.poll(async () => (await todoTexts(ada).allTextContents()).sort(), { timeout: TIMEOUT }).toEqual([...all].sort());
    await expect.poll(async () => (await todoTexts(bob).allTextContents()).sort(), { timeout: TIMEOUT }).toEqual([...all].sort());
    await expect.poll(() => ada.getByTestId("pending").textContent(), { timeout: TIMEOUT }).toBe("0");
  }, 60_000);

  it("a write the page acknowledged survives a browser restart on its profile", async () => {
    const server = await serveDemo();
    const doc = freshDoc();
    const profile = tempDir();
    const first = await launchPersistent(profile);
    const page = await openPage(server, doc, first);
    await page.getByTestId("offline-toggle").check();
    const ack = await page.evaluate(() => window.concordDemo.store.set("acked", { text: "kept" }));
    expect(ack).toEqual({ level: "local" });
    await first.close();

    const second = await launchPersistent(profile);
    cleanups.push(() => second.close());
    const again = await openPage(server, doc, second);
    expect(await again.evaluate(() => window.concordDemo.store.getLocal("acked"))).toEqual({ text: "kept" });
  }, 60_000);

  it("the server restarts under the pages: they reconnect on their own, and nothing is lost", async () => {
    const dataDir = tempDir();
    let server = await serveDemo(dataDir);
    const port = server.port;
    const doc = freshDoc();
    const ada = await openPage(server, doc);
    const bob = await openPage(server, doc);
    const acked = await ada.evaluate(() => window.concordDemo.store.set("before restart", 1, { ack: "server" }));
    expect(acked).toEqual({ level: "server" });

    await server.close();
    await expect.poll(() => connection(ada).textContent(), { timeout: TIMEOUT }).not.toBe("open");
    await addTodo(ada, "while the server was down");
    server = await serveDemo(dataDir, port);
    await expect.poll(() => connection(ada).textContent(), { timeout: TIMEOUT }).toBe("open");
    await expect.poll(() => connection(bob).textContent(), { timeout: TIMEOUT }).toBe("open");
    await expect.poll(() => todoTexts(bob).allTextContents(), { timeout: TIMEOUT }).toEqual(["while the server was down"]);
    const stock = stockClient(server, doc);
    await until("the acknowledged write at a fresh client", () => stock.map.get("before restart") === 1, stock.doc);
  }, 60_000);
});

declare global {
  interface Window {
    concordDemo: { store: import("../../src/eventual/eventual-store.js").EventualStore };
  }
}
