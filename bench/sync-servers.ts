/**
 * The two sync servers of `bench/sync.ts`, each in its own child process so that its memory can be
 * read from `/proc/<pid>/status`: the stock y-websocket server (`y-websocket-stock`, in memory,
 * persists nothing) and `concord serve` (file storage: every update fsynced, group commit, before
 * it is forwarded).
 *
 * Every child started here is killed (SIGKILL) when the bench process exits, however it exits,
 * and every folder made by {@link benchTempDir} is removed then: a failed run leaves nothing behind.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type ServerKind = "stock" | "concord";

/** A server running in a child process. */
export interface ServerProcess {
  readonly kind: ServerKind;
  readonly pid: number;
  /** `ws://127.0.0.1:<port>`; a room is `${url}/${room}`. */
  readonly url: string;
  readonly port: number;
  /** Resident set of the child, MB (`VmRSS`). */
  rssMB(): number;
  /** Peak resident set of the child since it started, MB (`VmHWM`). */
  peakRssMB(): number;
  /** GET `path` on the server's HTTP port (ours: `/healthz`, `/metrics`). */
  get(path: string): Promise<string>;
  /** The last lines the child wrote on stderr (for error messages). */
  stderrTail(): string;
  /**
   * SIGTERM, then SIGKILL if it has not exited within `graceMs`. Ours shuts down gracefully on
   * SIGTERM (flushes every room; a `--cpu-prof` profile is written as it exits).
   */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Ours: `--data`. Required for `concord`. */
  readonly dataDir?: string;
  /** Ours: `--idle-unload-ms`. */
  readonly idleUnloadMs?: number;
  /** Ours: run the child under `node --cpu-prof --cpu-prof-dir=<dir>`. */
  readonly cpuProfDir?: string;
  /** How long to wait for the ready line, ms. Default 20 000. */
  readonly readyTimeoutMs?: number;
}

const STOCK_SERVER = join("node_modules", "y-websocket-stock", "bin", "server.cjs");
const OUR_CLI = join("dist", "cli", "main.js");
const STDERR_TAIL_BYTES = 4_000;

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`\nsync bench: ${signal}, killing the servers and removing temp folders`);
      process.exit(130);
    });
  }
}

/** A fresh temp folder, removed by {@link removeTempDir} or at exit at the latest. */
export function benchTempDir(prefix: string): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Builds `dist/` when `concord serve` is not built yet. */
export function ensureBuilt(): void {
  if (existsSync(OUR_CLI)) return;
  console.log(`${OUR_CLI} is missing: npm run build`);
  const built = spawnSync("npm", ["run", "build"], { stdio: "inherit" });
  if (built.status !== 0) throw new Error(`npm run build failed (exit ${built.status ?? built.signal})`);
}

/**
 * Which build of `concord serve` runs: `src/**\/*.ts` files edited after their `dist/` output was
 * written (the bench measures `dist/`, not the working tree).
 */
export function staleBuildFiles(): string[] {
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        const out = join("dist", path.slice("src/".length).replace(/\.ts$/, ".js"));
        if (!existsSync(out) || statSync(out).mtimeMs < statSync(path).mtimeMs) stale.push(path);
      }
    }
  };
  walk("src");
  return stale;
}

/** A TCP port free on 127.0.0.1 right now (the stock server takes no port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Starts a server in a child process and resolves once it printed its ready line. */
export async function startServerProcess(kind: ServerKind, options: StartOptions = {}): Promise<ServerProcess> {
  installExitHook();
  let args: string[];
  let env: NodeJS.ProcessEnv = { ...process.env };
  let ready: RegExp;
  if (kind === "stock") {
    const port = await freePort();
    args = [STOCK_SERVER];
    env = { ...env, HOST: "127.0.0.1", PORT: String(port) };
    ready = /running at '127\.0\.0\.1' on port (\d+)/;
  } else {
    if (options.dataDir === undefined) throw new Error("startServerProcess(concord) needs a dataDir");
    args = [
      ...(options.cpuProfDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : []),
      OUR_CLI,
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--data",
      options.dataDir,
      ...(options.idleUnloadMs !== undefined ? ["--idle-unload-ms", String(options.idleUnloadMs)] : []),
    ];
    ready = /listening on ws:\/\/127\.0\.0\.1:(\d+)/;
  }
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => live.delete(child));

  let port: number | undefined;
  port = await new Promise<number>((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => fail(`no ready line within ${options.readyTimeoutMs ?? 20_000} ms`), options.readyTimeoutMs ?? 20_000);
    function fail(why: string): void {
      clearTimeout(timer);
      child.off("exit", onEarlyExit);
      child.kill("SIGKILL");
      reject(new Error(`${kind} server: ${why}\nstdout: ${stdout}\nstderr: ${stderr}`));
    }
    function onEarlyExit(code: number | null, signal: NodeJS.Signals | null): void {
      fail(`exited before it was ready (${code ?? signal})`);
    }
    child.once("exit", onEarlyExit);
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      if (port !== undefined) return; // ready: the rest of stdout is drained, not kept
      stdout += chunk;
      const m = ready.exec(stdout);
      if (m) {
        clearTimeout(timer);
        child.off("exit", onEarlyExit);
        port = Number(m[1]);
        resolve(port);
      }
    });
  });
  const pid = child.pid!;
  const status = (field: "VmRSS" | "VmHWM"): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    if (!m) throw new Error(`${field} missing from /proc/${pid}/status`);
    return Number(m[1]) / 1024;
  };
  return {
    kind,
    pid,
    port,
    url: `ws://127.0.0.1:${port}`,
    rssMB: () => status("VmRSS"),
    peakRssMB: () => status("VmHWM"),
    get: async (path) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return res.text();
    },
    stderrTail: () => stderr,
    stop: async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        exited,
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            child.kill("SIGKILL");
            resolve();
          }, graceMs);
        }),
      ]);
      clearTimeout(timer);
      await exited;
    },
  };
}
