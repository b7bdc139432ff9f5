/**
 * The two sync servers of `bench/sync.ts`, each in its own child process so that its memory can be
 * read from `/proc/<pid>/status`: the stock y-websocket server (`y-websocket-stock`, in memory,
 * persists nothing) and `concord serve` (file storage: every update fsynced, group commit;
 * forwarded at once, acknowledged once durable).
 * Started through `processes.ts`: killed when the bench process exits, however it exits.
 */
import { join } from "node:path";
import { OUR_CLI, freePort, startProcess } from "./processes.js";

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

/** Starts a server in a child process and resolves once it printed its ready line. */
export async function startServerProcess(kind: ServerKind, options: StartOptions = {}): Promise<ServerProcess> {
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
  const child = await startProcess({
    name: `${kind} server`,
    command: process.execPath,
    args,
    env,
    ready,
    ...(options.readyTimeoutMs !== undefined ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
  });
  const port = Number(child.ready[1]);
  return {
    kind,
    pid: child.pid,
    port,
    url: `ws://127.0.0.1:${port}`,
    rssMB: child.rssMB,
    peakRssMB: child.peakRssMB,
    get: async (path) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return res.text();
    },
    stderrTail: child.stderrTail,
    stop: child.stop,
  };
}
