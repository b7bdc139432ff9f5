/**
 * Child processes and temp folders of the benches that run servers (`sync`, `primary`): a free
 * loopback port, the built CLI, and a process started and awaited until it prints its ready line.
 *
 * Every child started here is killed (SIGKILL) when the bench process exits, however it exits,
 * and every folder made by {@link benchTempDir} is removed then: a failed run leaves nothing behind.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** The built CLI (`npm run build`): what the benches run, not the working tree. */
export const OUR_CLI = join("dist", "cli", "main.js");
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
      console.error(`\nbench: ${signal}, killing the servers and removing temp folders`);
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

/** Builds `dist/` when the CLI is not built yet. */
export function ensureBuilt(): void {
  if (existsSync(OUR_CLI)) return;
  console.log(`${OUR_CLI} is missing: npm run build`);
  const built = spawnSync("npm", ["run", "build"], { stdio: "inherit" });
  if (built.status !== 0) throw new Error(`npm run build failed (exit ${built.status ?? built.signal})`);
}

/**
 * Which build runs: `src/**\/*.ts` files edited after their `dist/` output was written (the
 * benches measure `dist/`, not the working tree).
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

/** The path of executable `name` in a folder of `$PATH`, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir === "") continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A TCP port free on 127.0.0.1 right now (for servers that take no port 0, or must know it up front). */
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

/** What to start and how to tell it is ready. */
export interface ProcessSpec {
  /** For error messages. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Matched against everything the child printed on stdout (or `readyOn`) so far. */
  readonly ready: RegExp;
  /** Where the ready line appears. Default "stdout". */
  readonly readyOn?: "stdout" | "stderr";
  /** How long to wait for the ready line, ms. Default 20 000. */
  readonly readyTimeoutMs?: number;
}

/** A child process that printed its ready line. */
export interface BenchProcess {
  readonly pid: number;
  /** The match of `ready` (its groups: a port, say). */
  readonly ready: RegExpExecArray;
  /** Resident set of the child, MB (`VmRSS`). */
  rssMB(): number;
  /** Peak resident set of the child since it started, MB (`VmHWM`). */
  peakRssMB(): number;
  /** The last lines the child wrote on stderr (for error messages). */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** Sends `signal` (SIGKILL: a crash; SIGSTOP/SIGCONT: a pause); resolves once it exited when `signal` kills. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `spec` and resolves once its stdout (or stderr) matches `spec.ready`; after that it is
 * drained, not kept. Rejects (the child killed) if it exits first or takes longer than the timeout.
 */
export async function startProcess(spec: ProcessSpec): Promise<BenchProcess> {
  installExitHook();
  const child = spawn(spec.command, spec.args, { env: spec.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => live.delete(child));

  const timeoutMs = spec.readyTimeoutMs ?? 20_000;
  let ready: RegExpExecArray | undefined;
  ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => fail(`no ready line within ${timeoutMs} ms`), timeoutMs);
    function fail(why: string): void {
      clearTimeout(timer);
      child.off("exit", onEarlyExit);
      child.kill("SIGKILL");
      reject(new Error(`${spec.name}: ${why}\n${spec.readyOn ?? "stdout"}: ${output}\nstderr: ${stderr}`));
    }
    function onEarlyExit(code: number | null, signal: NodeJS.Signals | null): void {
      fail(`exited before it was ready (${code ?? signal})`);
    }
    child.once("exit", onEarlyExit);
    child.once("error", (e) => fail(`could not start: ${e.message}`));
    child.stdout!.setEncoding("utf8");
    child.stdout!.resume(); // drained whatever it says
    child[spec.readyOn ?? "stdout"]!.on("data", (chunk: string) => {
      if (ready !== undefined) return;
      output += chunk;
      const m = spec.ready.exec(output);
      if (m) {
        clearTimeout(timer);
        child.off("exit", onEarlyExit);
        resolve(m);
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
    pid,
    ready,
    rssMB: () => status("VmRSS"),
    peakRssMB: () => status("VmHWM"),
    stderrTail: () => stderr,
    kill: async (signal) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      if (signal === "SIGKILL") await exited;
    },
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
