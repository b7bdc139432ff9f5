/**
 * `concord serve` as a user runs it: the BUILT CLI (`npm test` builds first) in a child process, a
 * stock y-websocket client syncing through it, SIGTERM for a graceful exit. No sleeps: every wait is
 * on an event (a line of output, a doc update, the process exit), bounded by a timeout.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, type ClientOptions } from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { selfSignedCert } from "../server/fixtures.js";
import { concord } from "./run-cli.js";

const WAIT_MS = 15_000;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "concord-serve-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}


function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A running `concord serve`, with its output so far and its exit. */
interface Served {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function serve(...args: string[]): Promise<Served> {
  const child = spawn(process.execPath, ["dist/cli/main.js", "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  const url = await within(
    `"listening on" from concord serve (stderr so far: ${stderr})`,
    new Promise<string>((resolve, reject) => {
      child.stdout!.on("data", (chunk: string) => {
        stdout += chunk;
        // Ready once both lines are out: where it listens, and who may connect.
        const match = /^concord serve: listening on (wss?:\/\/\S+) \(data: .*\)\nconcord serve: .*\n/m.exec(stdout);
        if (match) resolve(match[1]!);
      });
      void exited.then(({ code }) => reject(new Error(`concord serve exited with ${code} before listening: ${stderr}`)));
    }),
  );
  return { child, url, stdout: () => stdout, stderr: () => stderr, exited };
}

function connect(
  url: string,
  room: string,
  options: { params?: Record<string, string>; WebSocket?: new (url: string | URL, protocols?: string | string[]) => WebSocket } = {},
): { doc: Y.Doc; provider: WebsocketProvider } {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: (options.WebSocket ?? WebSocket) as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    ...(options.params ? { params: options.params } : {}),
  });
  cleanups.push(() => {
    provider.destroy();
    doc.destroy();
  });
  return { doc, provider };
}

function valueAt(doc: Y.Doc, key: string, value: unknown): Promise<void> {
  return within(
    `${key} = ${JSON.stringify(value)}`,
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (JSON.stringify(doc.getMap("concord").get(key)) === JSON.stringify(value)) {
          doc.off("update", check);
          resolve();
        }
      };
      doc.on("update", check);
      check();
    }),
  );
}

/** The close code and reason of `ws` (which the server is expected to close). */
function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  ws.on("error", () => undefined);
  cleanups.push(() => ws.terminate());
  return within("the server to close the socket", new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") }))));
}

/** Resolves once the server's stderr matches `pattern`. */
function stderrMatching(served: Served, pattern: RegExp): Promise<void> {
  return within(
    `stderr matching ${pattern}`,
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (pattern.test(served.stderr())) {
          served.child.stderr!.off("data", check);
          resolve();
        }
      };
      // Registered after serve()'s own listener, so stderr() already holds the chunk.
      served.child.stderr!.on("data", check);
      check();
    }),
  );
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("concord serve", () => {
  it("serves stock clients, persists to --data, and exits 0 on SIGTERM after a graceful shutdown", async () => {
    const data = tempDir();
    const served = await serve("--port", "0", "--data", data, "--idle-unload-ms", "60000");
    expect(served.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(served.stdout()).toContain(`(data: ${data})`);
    expect(served.stdout()).toMatch(/open to anyone/);

    const a = connect(served.url, "todos");
    const b = connect(served.url, "todos");
    a.doc.getMap("concord").set("todo:1", { title: "milk" });
    await valueAt(b.doc, "todo:1", { title: "milk" });
    const health = await fetch(`${served.url.replace(/^ws:/, "http:")}/healthz`);
    expect(await health.json()).toEqual({ status: "ok", documents: 1, connections: 2 });

    served.child.kill("SIGTERM");
    expect(await within("concord serve to exit", served.exited)).toEqual({ code: 0, signal: null });
    // Logs are JSON lines on stderr, from listening to closed.
    const events = served
      .stderr()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => (JSON.parse(line) as { event: string }).event);
    expect(events[0]).toBe("server.listening");
    expect(events).toContain("conn.open");
    expect(events[events.length - 1]).toBe("server.closed");

    const dumped = await concord("dump", "--data", data, "--doc", "todos");
    expect(dumped).toMatchObject({ code: 0, stdout: '["todo:1",{"title":"milk"}]\n' });
  });

  it("exits 0 on SIGINT too", async () => {
    const served = await serve("--port", "0", "--data", tempDir());
    served.child.kill("SIGINT");
    expect(await within("concord serve to exit", served.exited), served.stderr()).toEqual({ code: 0, signal: null });
  });

  it("documents every flag and the auth file format in --help", async () => {
    const help = await concord("serve", "--help");
    expect(help.code).toBe(0);
    const flags = ["--port", "--host", "--data", "--idle-unload-ms", "--max-message-bytes", "--auth", "--tls-cert", "--tls-key", "--max-connections", "--max-doc-bytes", "--max-buffered-bytes"];
    for (const flag of flags) expect(help.stdout).toContain(`  ${flag} <`);
    expect(help.stdout).toContain("  --max-total-buffered-bytes <n>\n");
    expect(help.stdout).toMatch(/Without it, anyone who can reach the address can read and write every\s+document/);
    expect(help.stdout).toMatch(/"tokens"/);
    expect(help.stdout).toMatch(/"access": "read-write"/);
    expect(help.stdout).toMatch(/trailing \* matches/);
    expect(help.stdout).toMatch(/4401/);
    expect(help.stdout).toMatch(/4403/);
    expect(help.stdout).toMatch(/4413/);
    expect(help.stdout).toMatch(/1013/);
    const top = (await concord("--help")).stdout;
    expect(top).toMatch(/concord serve \[--port 4321\]/);
    for (const flag of ["--auth", "--tls-cert", "--max-connections", "--max-doc-bytes"]) expect(top).toContain(flag);
  });

  it("serves wss:// with --tls-cert/--tls-key, checks tokens with --auth, and applies --max-connections", async () => {
    const dir = tempDir();
    const { cert, certFile, keyFile } = selfSignedCert(dir);
    const authFile = join(dir, "auth.json");
    writeFileSync(authFile, JSON.stringify({ tokens: { w: { docs: ["todos"], access: "read-write" }, r: { docs: ["todo*"], access: "read-only" } } }));
    const served = await serve(
      "--port", "0", "--data", tempDir(), "--auth", authFile, "--tls-cert", certFile, "--tls-key", keyFile,
      "--max-connections", "2", "--max-doc-bytes", "1000000",
    );
    expect(served.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    expect(served.stdout()).not.toMatch(/open to anyone/);
    expect(served.stdout()).toContain(`auth: 2 token(s) from ${authFile}`);

    const trusting = class extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols, { ca: cert, servername: "localhost" } as ClientOptions);
      }
    };
    const refused = await closeOf(new trusting(`${served.url}/todos?token=nope`));
    expect(refused).toMatchObject({ code: 4401, reason: expect.stringMatching(/^unauthorized: /) });
    const a = connect(served.url, "todos", { params: { token: "w" }, WebSocket: trusting });
    const b = connect(served.url, "todos", { params: { token: "r" }, WebSocket: trusting });
    a.doc.getMap("concord").set("todo:1", { title: "milk" });
    await valueAt(b.doc, "todo:1", { title: "milk" });
    // Two connections open: a third is refused for now.
    expect(await closeOf(new trusting(`${served.url}/todos?token=w`))).toMatchObject({ code: 1013 });
    served.child.kill("SIGTERM");
    expect(await within("concord serve to exit", served.exited)).toEqual({ code: 0, signal: null });
  });

  it("refuses a bad auth file, certificate or key with exit code 2, naming the file and the problem", async () => {
    const dir = tempDir();
    const notJson = join(dir, "not-json.json");
    writeFileSync(notJson, "{ tokens:");
    const wrongShape = join(dir, "wrong.json");
    writeFileSync(wrongShape, JSON.stringify({ tokens: { t: { docs: ["a"], access: "root" } } }));
    const notPem = join(dir, "not.pem");
    writeFileSync(notPem, "not a pem file\n");
    const cases: Array<[string[], RegExp]> = [
      [["--auth", notJson], new RegExp(`--auth: auth file ${escape(notJson)}: not valid JSON`)],
      [["--auth", wrongShape], new RegExp(`auth file ${escape(wrongShape)}: token #1 in "tokens": "access" must be "read-write", "read-only" or "admin", got "root"`)],
      [["--auth", join(dir, "missing.json")], /missing\.json: cannot read it \(ENOENT\)/],
      [["--tls-cert", notPem], /--tls-cert and --tls-key go together/],
      [["--tls-cert", join(dir, "nope.pem"), "--tls-key", notPem], /--tls-cert: cannot read .*nope\.pem \(ENOENT\)/],
      [["--tls-cert", notPem, "--tls-key", notPem], /tls: the certificate or key is not usable/],
      [["--max-connections", "0"], /--max-connections must be an integer from 1/],
      [["--max-doc-bytes", "big"], /--max-doc-bytes must be an integer from 1/],
      [["--max-buffered-bytes", "2000", "--max-total-buffered-bytes", "1000"], /--max-total-buffered-bytes \(1000\) must be at least --max-buffered-bytes \(2000\)/],
    ];
    for (const [args, message] of cases) {
      const out = await concord("serve", "--port", "0", "--data", dir, ...args);
      expect(out.code, args.join(" ")).toBe(2);
      expect(out.stderr, args.join(" ")).toMatch(message);
      expect(out.stdout, args.join(" ")).toBe("");
    }
  });

  it("refuses bad flags with exit code 2 and says what is wrong", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--port", "abc"], /--port must be an integer from 0 to 65535, got "abc"/],
      [["--port", "65536"], /--port must be an integer from 0 to 65535, got "65536"/],
      [["--port", "-1"], /--port must be an integer/],
      [["--idle-unload-ms", "soon"], /--idle-unload-ms must be an integer/],
      [["--max-message-bytes", "0"], /--max-message-bytes must be an integer from 1/],
      [["--bogus", "1"], /unknown flag --bogus/],
      [["--port"], /--port needs a value/],
      [["--log-level", "loud"], /--log-level must be one of debug, info, warn, error, got "loud"/],
      [["--auth-timeout-ms", "0"], /--auth-timeout-ms must be an integer from 1/],
      [["--port", "1", "--port", "2"], /--port is given twice: give it once/],
      [["--static", "/no/such/folder"], /static folder \/no\/such\/folder can't be read: ENOENT/],
    ];
    for (const [args, message] of cases) {
      const out = await concord("serve", ...args);
      expect(out.code, args.join(" ")).toBe(2);
      expect(out.stderr, args.join(" ")).toMatch(message);
      expect(out.stdout, args.join(" ")).toBe("");
      // The mistake and where to read more, not the whole help burying it.
      expect(out.stderr.trim().split("\n"), args.join(" ")).toEqual([expect.stringMatching(/^concord: /), "(concord serve --help lists what it takes)"]);
    }
  });

  it("serves Concord's demo app at / by default, an app's folder with --static, none with --static none", async () => {
    const demo = await serve("--port", "0", "--data", tempDir());
    const demoPage = demo.url.replace(/^ws:/, "http:");
    expect(demo.stdout()).toContain(`concord serve: demo app at ${demoPage}/\n`);
    const index = await fetch(`${demoPage}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await index.text();
    expect(html).toContain("<title>Concord demo</title>");
    const script = /<script type="module" src="\.?\/?(app\.js)"/.exec(html)?.[1];
    expect(script).toBe("app.js");
    const bundle = await fetch(`${demoPage}/app.js`);
    expect(bundle.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await bundle.text()).length).toBeGreaterThan(10_000);

    const site = tempDir();
    writeFileSync(join(site, "index.html"), "<p>my app</p>");
    mkdirSync(join(site, "assets"));
    writeFileSync(join(site, "assets", "app.css"), "p{}");
    writeFileSync(join(site, ".env"), "SECRET=1");
    const mine = await serve("--port", "0", "--data", tempDir(), "--static", site);
    const page = mine.url.replace(/^ws:/, "http:");
    expect(mine.stdout()).toContain(`concord serve: app at ${page}/\n`);
    expect(await (await fetch(`${page}/`)).text()).toBe("<p>my app</p>");
    const css = await fetch(`${page}/assets/app.css`);
    expect([css.status, css.headers.get("content-type"), await css.text()]).toEqual([200, "text/css; charset=utf-8", "p{}"]);
    const head = await fetch(`${page}/index.html`, { method: "HEAD" });
    expect([head.status, head.headers.get("content-length"), await head.text()]).toEqual([200, "13", ""]);
    // Only files found in the folder at start: no dot files, nothing outside it, no writes.
    for (const path of ["/.env", "/../package.json", "/%2e%2e/package.json", "/assets/../../package.json", "/nope.js"]) {
      expect((await fetch(`${page}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${page}/index.html`, { method: "POST", body: "x" })).status).toBe(404);
    // The rooms are still there beside the files.
    expect((await fetch(`${page}/healthz`)).status).toBe(200);

    const bare = await serve("--port", "0", "--data", tempDir(), "--static", "none");
    expect(bare.stdout()).not.toContain(" at http");
    expect((await fetch(`${bare.url.replace(/^ws:/, "http:")}/`)).status).toBe(404);
  });

  it("re-reads the --auth file on SIGHUP: closes what it no longer allows, keeps the old table when the file is bad", async () => {
    const dir = tempDir();
    const authFile = join(dir, "auth.json");
    writeFileSync(authFile, JSON.stringify({ tokens: { w: { docs: ["todos"], access: "read-write" }, gone: { docs: ["todos"], access: "read-write" } } }));
    const served = await serve("--port", "0", "--data", tempDir(), "--auth", authFile);
    expect(served.stdout()).toContain("SIGHUP reloads the file");
    const doomed = closeOf(new WebSocket(`${served.url}/todos?token=gone`));
    const kept = connect(served.url, "todos", { params: { token: "w" } });
    kept.doc.getMap("concord").set("k", 1);
    const other = connect(served.url, "todos", { params: { token: "w" } });
    await valueAt(other.doc, "k", 1); // both admitted and syncing

    writeFileSync(authFile, JSON.stringify({ tokens: { w: { docs: ["todos"], access: "read-write" } } }));
    served.child.kill("SIGHUP");
    expect(await doomed).toMatchObject({ code: 4401, reason: "unauthorized: unknown token" });
    await stderrMatching(served, /"event":"auth\.reloaded".*"tokens":1,"closed":1/);

    writeFileSync(authFile, "{ broken");
    served.child.kill("SIGHUP");
    await stderrMatching(served, /"event":"auth\.reload_failed".*not valid JSON/);
    // Still serving, with the table that was in force.
    kept.doc.getMap("concord").set("k", 2);
    await valueAt(other.doc, "k", 2);
    served.child.kill("SIGTERM");
    expect(await within("concord serve to exit", served.exited)).toEqual({ code: 0, signal: null });
    expect(served.stderr()).not.toMatch(/"gone"|token=gone/);
  });

  it("writes only entries at --log-level or above", async () => {
    const dir = tempDir();
    const authFile = join(dir, "auth.json");
    writeFileSync(authFile, JSON.stringify({ tokens: { w: { docs: ["todos"], access: "read-write" } } }));
    const served = await serve("--port", "0", "--data", tempDir(), "--auth", authFile, "--log-level", "warn");
    const client = connect(served.url, "todos", { params: { token: "w" } });
    client.doc.getMap("concord").set("k", 1);
    const watcher = connect(served.url, "todos", { params: { token: "w" } });
    await valueAt(watcher.doc, "k", 1);
    await closeOf(new WebSocket(`${served.url}/todos?token=nope`));
    await stderrMatching(served, /"level":"warn","event":"conn\.rejected"/);
    expect(served.stderr()).not.toMatch(/"level":"info"/);
  });

  it("fails with exit code 1 when the port is taken", async () => {
    const served = await serve("--port", "0", "--data", tempDir());
    const port = new URL(served.url).port;
    const second = await concord("serve", "--port", port, "--data", tempDir());
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^concord: Io: could not listen on 127\.0\.0\.1:\d+: EADDRINUSE/m);
  });
});
