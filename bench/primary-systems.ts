/**
 * The two replicated systems of `bench/primary.ts`, each a primary and one replica on loopback in
 * child processes, behind one interface so that every workload runs the same code against both:
 *
 * - Concord: the BUILT CLI, `concord node --mode primary` and `--mode replica` (file storage,
 *   every record fsynced before it is applied, shipped or acknowledged), and the client users use:
 *   `openStore({ mode: "primary", read: "replica" })`, so writes go to the primary and
 *   subscriptions are served by the replica.
 * - Redis: `redis-server` and `redis-server --replicaof`, through the RESP2 client of
 *   `redis-client.ts`; the replica publishes keyspace notifications (`K$`), which replicas emit
 *   for the writes they receive from their primary.
 *
 * Everything started here is stopped by `stop()`, and killed with its temp folders at exit
 * however the bench ends (`processes.ts`).
 */
import WebSocket from "ws";
import { openStore } from "../dist/open-store.js";
import type { PrimaryStore } from "../dist/primary/primary-client.js";
import { pollUntil, withTimeout } from "./harness.js";
import { benchTempDir, freePort, OUR_CLI, removeTempDir, startProcess, type BenchProcess } from "./processes.js";
import { RedisConnection } from "./redis-client.js";

/** What a write waits for: the primary's acknowledgement, or a replica's as well. */
export type WriteLevel = "local" | "replica";

export interface ReplicatedSystem {
  readonly name: string;
  /** Writes `key` on the primary; resolves once acknowledged at `level`. */
  write(key: string, value: string, level: WriteLevel): Promise<void>;
  /**
   * Calls `seen(key)` for every write of a key under `prefix` once a client of the REPLICA can see
   * it. Resolves once listening; the function it resolves with stops listening.
   */
  watchReplica(prefix: string, seen: (key: string) => void): Promise<() => void>;
  stop(): Promise<void>;
}

/** The name of the Concord group. */
export const CONCORD = "Concord";
const READY_TIMEOUT_MS = 20_000;
const CONCORD_READY = /^concord node: \S+ listening on ws:\/\/\S+ as /m;

/**
 * Starts `concord node` p1 (primary) and r1 (replica) and a client of both; resolves once p1
 * reports r1 fresh (`/healthz`) and r1 acknowledged a write made through the client. With
 * `cpuProfDir`, both run under `node --cpu-prof` and write their profiles there as they stop.
 */
export async function startConcordGroup(options: { readonly cpuProfDir?: string } = {}): Promise<ReplicatedSystem> {
  const dirs = [benchTempDir("concord-bench-p1-"), benchTempDir("concord-bench-r1-")];
  const [p, r] = [await freePort(), await freePort()];
  const nodes: BenchProcess[] = [];
  let store: PrimaryStore | undefined;
  const stop = async (): Promise<void> => {
    await store?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    for (const dir of dirs) removeTempDir(dir);
  };
  try {
    const node = (args: readonly string[]) =>
      startProcess({
        name: `concord node ${args.join(" ")}`,
        command: process.execPath,
        args: [...(options.cpuProfDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : []), OUR_CLI, "node", ...args],
        ready: CONCORD_READY,
        readyTimeoutMs: READY_TIMEOUT_MS,
      });
    nodes.push(await node(["--mode", "primary", "--id", "p1", "--port", String(p), "--data", dirs[0]!, "--peers", `r1=ws://127.0.0.1:${r}`]));
    nodes.push(await node(["--mode", "replica", "--id", "r1", "--port", String(r), "--data", dirs[1]!, "--primary", `p1=ws://127.0.0.1:${p}`]));
    const client = await openStore({
      mode: "primary",
      doc: "bench",
      nodes: { primary: `ws://127.0.0.1:${p}`, replicas: [`ws://127.0.0.1:${r}`] },
      read: "replica",
      WebSocket: WebSocket as never,
    });
    store = client;
    let health = "";
    await pollUntil(
      () => `p1's /healthz to list r1 as a fresh replica (last: ${health})`,
      async () => {
        health = await (await fetch(`http://127.0.0.1:${p}/healthz`)).text();
        return (JSON.parse(health) as { replicas?: { id: string; fresh: boolean }[] }).replicas?.some((x) => x.id === "r1" && x.fresh);
      },
    );
    await client.set("bench/ready", true, { durability: { replicas: 1 } });
    return {
      name: CONCORD,
      write: async (key, value, level) => {
        await client.set(key, value, { durability: level === "local" ? "local" : { replicas: 1 } });
      },
      watchReplica: async (prefix, seen) => {
        const unsubscribe = client.subscribe({ prefix }, (event) => {
          for (const c of event.changes) seen(c.key);
        });
        // Answered on the same connection after the subscription's own answer: once it is here, r1 pushes our changes.
        await client.get(`${prefix}subscribed`);
        return unsubscribe;
      },
      stop,
    };
  } catch (error) {
    for (const n of nodes) console.error(`concord node (pid ${n.pid}) stderr (tail):\n${n.stderrTail()}`);
    await stop();
    throw error;
  }
}

/** How a Redis pair persists: as most deployments run it, or with an fsync before each reply. */
export type RedisPersistence = "default" | "aof-always";

/** Short names, for tables. */
export const REDIS_NAME: Record<RedisPersistence, string> = {
  default: "Redis no-fsync",
  "aof-always": "Redis AOF-always",
};

/** `INFO <section>` as a map of its `field:value` lines. */
async function info(c: RedisConnection, section: string): Promise<Map<string, string>> {
  const text = String(await c.command("INFO", section));
  const fields = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const at = line.indexOf(":");
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}

/** Neither an AOF rewrite nor an RDB save (the replica's full sync) running or due. */
async function persistenceIdle(c: RedisConnection): Promise<boolean> {
  const p = await info(c, "persistence");
  return ["aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress", "loading"].every((f) => (p.get(f) ?? "0") === "0");
}

/**
 * Starts a Redis primary and a replica of it, each in a temp folder of its own, with `window`
 * connections for acknowledged writes; resolves once the replica reports `master_link_status:up`
 * and neither server is saving or rewriting anything.
 */
export async function startRedisPair(redisServer: string, persistence: RedisPersistence, window: number): Promise<ReplicatedSystem & { readonly version: string }> {
  const dirs = [benchTempDir("concord-bench-redis-p-"), benchTempDir("concord-bench-redis-r-")];
  const [p, r] = [await freePort(), await freePort()];
  const servers: BenchProcess[] = [];
  const connections: RedisConnection[] = [];
  const stop = async (): Promise<void> => {
    for (const c of connections) c.close();
    await Promise.all(servers.map((s) => s.stop()));
    for (const dir of dirs) removeTempDir(dir);
  };
  const server = (port: number, dir: string, extra: readonly string[]) => {
    const args = [
      ...["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "no", "--logfile", ""],
      // A replica's full sync starts at once instead of after 5 s.
      ...["--repl-diskless-sync-delay", "0"],
      ...(persistence === "aof-always" ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]),
      ...extra,
    ];
    return startProcess({ name: `redis-server ${args.join(" ")}`, command: redisServer, args, ready: /Ready to accept connections/, readyTimeoutMs: READY_TIMEOUT_MS });
  };
  const connect = async (port: number): Promise<RedisConnection> => {
    const c = await RedisConnection.connect(port);
    connections.push(c);
    return c;
  };
  try {
    servers.push(await server(p, dirs[0]!, []));
    servers.push(await server(r, dirs[1]!, ["--replicaof", "127.0.0.1", String(p), "--notify-keyspace-events", "K$"]));
    const primary = await connect(p);
    const replica = await connect(r);
    let link = "";
    await pollUntil(
      () => `the Redis replica's master_link_status:up (last: ${link})`,
      async () => (link = (await info(replica, "replication")).get("master_link_status") ?? "") === "up",
    );
    await pollUntil("both Redis servers done saving and rewriting", async () => (await persistenceIdle(primary)) && (await persistenceIdle(replica)));
    const version = (await info(primary, "server")).get("redis_version") ?? "?";
    // WAIT blocks its connection: each acknowledged write in flight needs a connection of its own.
    const idle: RedisConnection[] = [];
    for (let i = 0; i < window; i++) idle.push(await connect(p));
    const acknowledged = async (key: string, value: string): Promise<void> => {
      const c = idle.pop();
      if (c === undefined) throw new Error(`more than ${window} acknowledged writes in flight`);
      try {
        const [, replicas] = await Promise.all([c.command("SET", key, value), c.command("WAIT", 1, 0)]);
        if (replicas !== 1) throw new Error(`WAIT 1 0 answered ${JSON.stringify(replicas)}`);
      } finally {
        idle.push(c);
      }
    };
    return {
      name: REDIS_NAME[persistence],
      version,
      write: async (key, value, level) => {
        if (level === "replica") return acknowledged(key, value);
        await primary.command("SET", key, value);
      },
      watchReplica: async (prefix, seen) => {
        const sub = await connect(r);
        const channel = "__keyspace@0__:";
        sub.onMessage((m) => {
          if (m.message === "set") seen(m.channel.slice(channel.length));
        });
        await withTimeout(sub.command("PSUBSCRIBE", `${channel}${prefix}*`), READY_TIMEOUT_MS, "PSUBSCRIBE on the Redis replica");
        return () => {
          sub.close();
          connections.splice(connections.indexOf(sub), 1);
        };
      },
      stop,
    };
  } catch (error) {
    for (const s of servers) console.error(`redis-server (pid ${s.pid}) stderr (tail):\n${s.stderrTail()}`);
    await stop();
    throw error;
  }
}
