/**
 * Fixtures of the reliability tests: real processes on loopback. `concord serve` (the BUILT CLI:
 * `npm test` builds first) in a child process whose stdout and stderr lines can be waited on, a
 * free port to restart it on, its memory, and Concord clients over `sync: { url }`.
 *
 * Every wait ends on an event (a line, an exit, a store change) and fails after {@link WAIT_MS};
 * nothing sleeps. Everything started here is undone by {@link runCleanups}, newest first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { WebSocket } from "ws";
import { eachLine, restartablePort } from "../../src/lab/lab-process.js";
import { openStore } from "../../src/open-store.js";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import type { WebSocketCloseInfo } from "../../src/net/websocket-client.js";
import type { Persistence } from "../../src/storage/storage.js";

/** How long any single wait may take before it fails the test. Generous: CI boxes are busy. */
export const WAIT_MS = 20_000;

/** Fast reconnects, so that a restarted server is found again quickly (defaults: 100 ms to 10 s). */
export const FAST_BACKOFF = { initialMs: 20, maxMs: 250, factor: 2, jitter: 0.5, resetAfterMs: 1_000 } as const;

const cleanups: Array<() => unknown> = [];

export function onCleanup(cleanup: () => unknown): void {
  cleanups.push(cleanup);
}

/** Runs every registered cleanup, newest first; call from `afterEach`. Runs all of them even if one throws. */
export async function runCleanups(): Promise<void> {
  let failure: unknown;
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (e) {
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
}

export function tempDir(prefix = "concord-rel-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function within<T>(what: string, promise: Promise<T>, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with `check()` once it is truthy, re-checking whenever `subscribe`'s callback fires; rejects with its error if it throws. */
export function waitFor<T>(
  what: string | (() => string),
  check: () => T | undefined | false,
  subscribe: (wake: () => void) => () => void,
  ms = WAIT_MS,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let unsubscribe = (): void => undefined;
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      unsubscribe();
      reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === "string" ? what : what()}`));
    }, ms);
    const wake = (): void => {
      if (done) return;
      let value: T | undefined | false;
      try {
        value = check();
      } catch (e) {
        // A check that throws ends the wait with its error (never an uncaught exception in whoever woke it).
        done = true;
        clearTimeout(timer);
        unsubscribe();
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (value) {
        done = true;
        clearTimeout(timer);
        unsubscribe();
        resolve(value);
      }
    };
    unsubscribe = subscribe(wake);
    wake();
  });
}

/** Ports per test worker, each worker in a block of its own. */
const BLOCK = 1_500;

/**
 * A port nobody listens on right now, for a server that must restart on the same URL
 * (`restartablePort`: below the kernel's ephemeral range, never twice, checked free), in a block of
 * its own per vitest worker, so that parallel workers never pick the same port.
 */
export function freePort(): Promise<number> {
  const worker = Number(process.env["VITEST_POOL_ID"] ?? 0) % 8;
  return restartablePort({ from: 20_000 + worker * BLOCK, size: BLOCK });
}

/** A child process whose output lines can be waited on. */
export interface Child {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every complete line so far, stdout and stderr apart. */
  readonly stdoutLines: string[];
  readonly stderrLines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line (already printed or to come, from index `from`) matching `match`. */
  line(match: RegExp | ((line: string) => boolean), from?: number, what?: string): Promise<string>;
  /** Resolves once `count` stderr lines (from index `from`) match. */
  stderrCount(match: (line: string) => boolean, count: number, from?: number): Promise<void>;
  /** SIGKILL (if still running) and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `process.execPath args`, in the repo's folder, piping stdin, stdout and stderr. Killed at cleanup. */
export function spawnChild(args: readonly string[], name: string): Child {
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
  const stdoutLines: string[] = [];
  const stderrLines: string[] = [];
  const waiters = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of [...waiters]) wake();
  };
  const collect = (stream: NodeJS.ReadableStream, lines: string[]): void =>
    eachLine(stream, (line) => {
      lines.push(line);
      wakeAll();
    });
  collect(child.stdout!, stdoutLines);
  collect(child.stderr!, stderrLines);
  child.stdin!.on("error", () => undefined); // writing to a killed child
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
      wakeAll();
    }),
  );
  const subscribe = (wake: () => void): (() => void) => {
    waiters.add(wake);
    return () => waiters.delete(wake);
  };
  const tail = (): string => `${name} stderr tail:\n${stderrLines.slice(-15).join("\n")}`;
  const kill = async (signal: NodeJS.Signals = "SIGKILL"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (exitInfo === undefined) child.kill(signal);
    return within(`${name} to exit on ${signal}`, exited);
  };
  cleanups.push(() => kill("SIGKILL"));
  return {
    child,
    pid: child.pid!,
    stdoutLines,
    stderrLines,
    exited,
    line(match, from = 0, what) {
      const test = typeof match === "function" ? match : (l: string) => match.test(l);
      return waitFor(
        () => `${name} to print ${what ?? String(match)} (${tail()})`,
        () => {
          const found = stdoutLines.slice(from).find(test);
          if (found !== undefined) return found;
          if (exitInfo !== undefined) throw new Error(`${name} exited (${JSON.stringify(exitInfo)}) before printing ${what ?? String(match)}; ${tail()}`);
          return undefined;
        },
        subscribe,
      );
    },
    async stderrCount(match, count, from = 0) {
      await waitFor(
        () => `${count} matching stderr lines from ${name} (${tail()})`,
        () => stderrLines.slice(from).filter(match).length >= count,
        subscribe,
      );
    },
    kill,
  };
}

/** A running `concord serve` child. */
export interface ServerProcess extends Child {
  readonly url: string;
  readonly port: number;
  /** Server log entries (JSON lines on stderr) whose `event` is `event`, so far. */
  events(event: string): Array<Record<string, unknown>>;
}

/**
 * Starts `node [nodeArgs] dist/cli/main.js serve --port <port> --data <dataDir> [extra]` and
 * resolves once it printed where it listens.
 */
export async function startServerProcess(options: {
  port: number;
  dataDir: string;
  extra?: readonly string[];
  nodeArgs?: readonly string[];
}): Promise<ServerProcess> {
  const args = [...(options.nodeArgs ?? []), "dist/cli/main.js", "serve", "--port", String(options.port), "--data", options.dataDir, ...(options.extra ?? [])];
  const proc = spawnChild(args, "concord serve");
  const line = await proc.line(/^concord serve: listening on ws:\/\/\S+ /, 0, '"listening on"');
  const url = /listening on (ws:\/\/\S+) /.exec(line)![1]!;
  const events = (event: string): Array<Record<string, unknown>> =>
    proc.stderrLines
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e["event"] === event);
  return { ...proc, url, port: Number(new URL(url).port), events };
}

/** True for a stderr line that is the server's JSON log entry of `event`. */
export function isEvent(event: string): (line: string) => boolean {
  const needle = `"event":"${event}"`;
  return (line) => line.startsWith("{") && line.includes(needle);
}

/** Resident set size of `pid` in bytes (Linux `/proc/<pid>/status` VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * Runs `concord dump` on a stopped server's data; resolves with the entries it printed.
 *
 * Its stdout goes to a FILE, not a pipe: `concord dump` exits before a pipe drained and loses the
 * rest of its output (see `cli-dump-pipe.test.ts`); writes to a file are synchronous.
 */
export async function dumpEntries(dataDir: string, doc: string): Promise<Array<[string, unknown]>> {
  const outFile = join(mkdtempSync(join(tmpdir(), "concord-dump-")), "out.jsonl");
  const out = openSync(outFile, "w");
  try {
    const child = spawn(process.execPath, ["dist/cli/main.js", "dump", "--data", dataDir, "--doc", doc], { stdio: ["ignore", out, "pipe"] });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const [code] = (await within("concord dump to exit", once(child, "exit"))) as [number | null];
    if (code !== 0) throw new Error(`concord dump exited with ${code}: ${stderr}`);
  } finally {
    closeSync(out);
  }
  const text = readFileSync(outFile, "utf8");
  rmSync(dirname(outFile), { recursive: true, force: true });
  return text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as [string, unknown]);
}

/** A Concord client syncing `doc` through the server at `url`; closed at cleanup. */
export async function concordClient(
  url: string,
  doc: string,
  persistence: Persistence,
  hooks: { onError?: (e: unknown) => void; onClose?: (info: WebSocketCloseInfo) => void } = {},
): Promise<EventualStore> {
  const store = await openStore({
    mode: "eventual",
    doc,
    persistence,
    sync: { url, WebSocket: WebSocket as never, backoff: FAST_BACKOFF, ...(hooks.onClose ? { onClose: hooks.onClose } : {}) },
    ...(hooks.onError ? { onError: hooks.onError } : {}),
  });
  let closed = false;
  const close = store.close.bind(store);
  store.close = () => {
    closed = true;
    return close();
  };
  cleanups.push(() => (closed ? undefined : store.close()));
  return store;
}

/** Resolves once `check(store)` holds, re-checking on every change the store sees. */
export function storeState<T>(store: EventualStore, what: string | (() => string), check: () => T | undefined | false): Promise<T> {
  return waitFor(what, check, (wake) => {
    const off = store.subscribe({}, wake);
    const onUpdate = (): void => wake();
    store.ydoc.on("update", onUpdate);
    return () => {
      off();
      store.ydoc.off("update", onUpdate);
    };
  });
}

/** The seed of a randomized test: `REL_SEED`, else a fresh one. */
export function relSeed(): number {
  const env = process.env["REL_SEED"];
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`REL_SEED must be an integer, got ${JSON.stringify(env)}`);
    return n >>> 0;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** Runs `body(seed)`; a failure is rethrown with the command that replays the seed. */
export async function withSeed(file: string, name: string, body: (seed: number) => Promise<void>): Promise<void> {
  const seed = relSeed();
  try {
    await body(seed);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(`${message}\n\nseed ${seed}; replay with:\n  REL_SEED=${seed} npx vitest run ${file} -t ${JSON.stringify(name)}\n`, { cause: e });
  }
}
