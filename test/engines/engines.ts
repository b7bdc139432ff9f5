/**
 * Real engines for tests and benchmarks, each started in a temp folder on loopback and stopped
 * after: Redis from Debian's `redis-server` (AOF on, fsync always: what scale-out requires) and
 * PostgreSQL (15 on bookworm) from Debian's `postgresql` (its own cluster, `initdb`'d here; as the `postgres`
 * user when we are root, since PostgreSQL refuses to run as root). Both can be killed and started
 * again on the same folder and port, which is how tests restart them under load.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { labFolder, removeLabFolder, restartablePort } from "../../src/lab/lab-process.js";

/** The newest PostgreSQL Debian installed (`postgresql` is 15 on bookworm), or 15's path when none is. */
const PG_BIN = (() => {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, "bin", "postgres"))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0] ?? "15";
  return join(root, newest, "bin");
})();
const READY_TIMEOUT_MS = 20_000;

/** An engine process that can be stopped, killed and started again on the same folder and port. */
export interface Engine {
  readonly url: string;
  /** Starts it again after {@link kill} (same data, same port). */
  start(): Promise<void>;
  /** SIGKILL (a crash), resolves once it exited. */
  kill(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

/** Whether the Debian packages are installed (tests that need them say so when they are not). */
export const haveRedis = existsSync("/usr/bin/redis-server");
export const havePostgres = existsSync(join(PG_BIN, "postgres"));

function waitReady(child: ChildProcess, ready: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => fail(new Error(`${what} did not start within ${READY_TIMEOUT_MS} ms:\n${seen.slice(-2000)}`)), READY_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      if (ready.test(seen)) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stderr?.off("data", onData);
        child.off("exit", onExit);
        resolve();
      }
    };
    const onExit = (code: number | null): void => fail(new Error(`${what} exited (${code}) before it was ready:\n${seen.slice(-2000)}`));
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(e);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}

function exited(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once("exit", () => live.delete(child));
  // Drain what it prints once ready, so a full pipe never blocks it.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

/** A Redis server with `appendonly yes`, `appendfsync always`, in a temp folder. */
export async function startRedis(): Promise<Engine> {
  const dir = labFolder("concord-redis-");
  const port = await restartablePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--logfile", ""];
    child = track(spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] }));
    await waitReady(child, /Ready to accept connections/, `redis-server on port ${port}`);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    start,
    kill: async () => {
      child?.kill("SIGKILL");
      await exited(child);
    },
    stop: async () => {
      child?.kill("SIGTERM");
      await exited(child);
      removeLabFolder(dir);
    },
  };
}

/** The postmaster's pid, from the first line of its lock file. */
function postmasterPid(data: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A PostgreSQL 15 cluster of its own (user `concord`, trust auth on loopback), in a temp folder. */
export async function startPostgres(): Promise<Engine> {
  const dir = labFolder("concord-pg-");
  const data = join(dir, "data");
  const port = await restartablePort();
  const asRoot = process.getuid?.() === 0;
  const asPostgres = (cmd: string, args: readonly string[]): [string, string[]] => (asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, [...args]]);
  mkdirSync(data, { mode: 0o700 });
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
    chownSync(data, uid, gid);
  }
  const [initCmd, initArgs] = asPostgres(join(PG_BIN, "initdb"), ["-D", data, "-U", "concord", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  execFileSync(initCmd, initArgs, { stdio: "pipe" });
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const [cmd, args] = asPostgres(join(PG_BIN, "postgres"), ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on"]);
    // Its own process group: a kill reaches the postmaster and every backend it forked.
    child = track(spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], detached: true }));
    await waitReady(child, /database system is ready to accept connections/, `postgres on port ${port}`);
  };
  await start();
  return {
    url: `postgres://concord@127.0.0.1:${port}/postgres`,
    start,
    kill: async () => {
      // Every backend runs in a session of its own: kill the postmaster's children, then it, as a
      // crash of the machine would. runuser stays alive to reap the postmaster (a zombie one would
      // fail the restart's lock-file check).
      const pid = postmasterPid(data);
      if (pid !== undefined) {
        try {
          execFileSync("pkill", ["-KILL", "-P", String(pid)], { stdio: "ignore" });
        } catch {
          // no children
        }
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await exited(child);
    },
    stop: async () => {
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, "SIGINT"); // fast shutdown
      await exited(child);
      removeLabFolder(dir);
    },
  };
}

/**
 * A Redis and a PostgreSQL for a test file: started before its tests, stopped after. Read the
 * engines from the returned object inside tests (they exist once `beforeAll` ran).
 */
export function enginesForTests(hooks: { beforeAll: (fn: () => Promise<void>, timeoutMs: number) => void; afterAll: (fn: () => Promise<void>) => void }): {
  readonly redis: Engine;
  readonly postgres: Engine;
} {
  const engines = {} as { redis: Engine; postgres: Engine };
  hooks.beforeAll(async () => {
    [engines.redis, engines.postgres] = await Promise.all([startRedis(), startPostgres()]);
  }, 60_000);
  hooks.afterAll(async () => {
    await Promise.all([engines.redis?.stop(), engines.postgres?.stop()]);
  });
  return engines;
}
