/**
 * The two consensus systems of `bench/strong.ts`, each three members on loopback in child
 * processes (fsync on), behind one interface so that every workload runs the same code on both:
 *
 * - Concord: the BUILT CLI, `concord node --mode strong` x 3 (file storage, the Raft log fsynced
 *   before a Ready's messages leave), and the client users use, `openStore({ mode: "strong" })`.
 * - etcd: Debian's `etcd-server` x 3 (its WAL fsynced the same way), through the npm `etcd3` gRPC
 *   client with its retry and circuit-breaker policies off (the bench retries, the same way for both).
 *
 * Both run with the same heartbeat interval and election timeout. Everything started here is
 * stopped by `stop()`, and killed with its temp folders at exit however the bench ends.
 */
import { spawnSync } from "node:child_process";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import WebSocket from "ws";
import { openStore } from "../dist/open-store.js";
import type { StrongStore } from "../dist/strong/strong-client.js";
import { pollUntil } from "./harness.js";
import { benchTempDir, freePort, OUR_CLI, removeTempDir, startProcess, type BenchProcess } from "./processes.js";

/** Raft timing of both systems: etcd's defaults. */
export const HEARTBEAT_MS = 100;
export const ELECTION_MS = 1_000;
const READY_TIMEOUT_MS = 20_000;
/** Deadline of one put of etcd's failover client. */
const FAILOVER_ATTEMPT_MS = 50;
const MEMBERS = 3;

/** A client of one system: puts acknowledged once committed, linearizable gets. */
export interface ConsensusClient {
  put(key: string, value: string): Promise<void>;
  /** A linearizable read. */
  get(key: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface ConsensusSystem {
  readonly name: string;
  readonly version: string;
  /** A client talking to the leader of now (the fastest path each system offers). */
  readonly client: ConsensusClient;
  /** A client that knows every member, for failover (it finds the new leader itself). */
  readonly anyClient: ConsensusClient;
  /** Index (0..2) of the member that leads now, asked of the members themselves. */
  leader(): Promise<number>;
  /** SIGKILLs member `i`; resolves once it exited. */
  kill(i: number): Promise<void>;
  /** Starts member `i` again on its data folder and port; resolves once every member is healthy and a put went through. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** SIGKILL of member `i`, and its restart on the same folder and port, proven by a put through `client` once every member settled. */
function memberControls(
  members: (BenchProcess | null)[],
  start: (i: number) => Promise<void>,
  settled: () => Promise<unknown>,
  client: ConsensusClient,
): Pick<ConsensusSystem, "kill" | "restart"> {
  return {
    kill: async (i) => {
      await members[i]?.kill("SIGKILL");
      members[i] = null;
    },
    restart: async (i) => {
      await start(i);
      await settled();
      await client.put("bench/restarted", String(i));
    },
  };
}

export const CONCORD = "Concord";
export const ETCD = "etcd";
const CONCORD_READY = /^concord node: \S+ listening on ws:\/\/\S+ as /m;

async function healthOf(port: number): Promise<{ status?: string; role?: string; leader?: string | null } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return (await res.json()) as { status?: string; role?: string; leader?: string | null };
  } catch {
    return undefined;
  }
}

/**
 * Starts three `concord node --mode strong` members and a client; resolves once every member
 * reports the same leader and a put was committed. With `cpuProfDir`, each member runs under
 * `node --cpu-prof` and writes its profile there as it stops.
 */
export async function startConcordCluster(options: { readonly cpuProfDir?: string } = {}): Promise<ConsensusSystem> {
  const ids = Array.from({ length: MEMBERS }, (_, i) => `n${i + 1}`);
  const dirs = ids.map((id) => benchTempDir(`concord-bench-${id}-`));
  const ports: number[] = [];
  for (let i = 0; i < MEMBERS; i++) ports.push(await freePort());
  const urls = ports.map((p) => `ws://127.0.0.1:${p}`);
  const peers = ids.map((id, i) => `${id}=${urls[i]}`).join(",");
  const members: (BenchProcess | null)[] = ids.map(() => null);
  const clients: StrongStore[] = [];
  const start = async (i: number): Promise<void> => {
    const args = [
      ...(options.cpuProfDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : []),
      OUR_CLI,
      ...["node", "--mode", "strong", "--id", ids[i]!, "--port", String(ports[i]), "--data", dirs[i]!, "--peers", peers],
      ...["--heartbeat-ms", String(HEARTBEAT_MS), "--election-ms", String(ELECTION_MS), "--log-level", "warn"],
    ];
    members[i] = await startProcess({ name: `concord node ${ids[i]}`, command: process.execPath, args, ready: CONCORD_READY, readyTimeoutMs: READY_TIMEOUT_MS });
  };
  const stop = async (): Promise<void> => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(members.map((m) => m?.stop()));
    for (const dir of dirs) removeTempDir(dir);
  };
  const leader = async (): Promise<number> => {
    const health = await Promise.all(ports.map(healthOf));
    const i = health.findIndex((h) => h?.role === "leader");
    if (i < 0) throw new Error(`no Concord member leads: ${JSON.stringify(health)}`);
    return i;
  };
  const settled = async (): Promise<void> => {
    let last = "";
    await pollUntil(
      () => `every Concord member to know one leader (last: ${last})`,
      async () => {
        const health = await Promise.all(ports.map(healthOf));
        last = JSON.stringify(health.map((h) => h && { status: h.status, role: h.role, leader: h.leader }));
        const leaders = new Set(health.map((h) => h?.leader ?? null));
        return health.every((h) => h?.status === "ok") && leaders.size === 1 && !leaders.has(null);
      },
      20,
      30_000,
    );
  };
  const open = async (nodes: readonly string[]): Promise<ConsensusClient> => {
    const store = await openStore({ mode: "strong", doc: "bench", nodes, WebSocket: WebSocket as never, timeoutMs: 30_000 });
    clients.push(store);
    return {
      put: async (key, value) => void (await store.set(key, value)),
      get: async (key) => (await store.get(key)) as string | undefined,
      close: () => store.close(),
    };
  };
  try {
    await Promise.all(ids.map((_, i) => start(i)));
    await settled();
    const client = await open(urls);
    const anyClient = await open(urls);
    await client.put("bench/ready", "1");
    const version = JSON.parse(spawnSync(process.execPath, ["-p", "JSON.stringify(require('./package.json').version)"], { encoding: "utf8" }).stdout) as string;
    return {
      name: CONCORD,
      version,
      client,
      anyClient,
      leader,
      ...memberControls(members, start, settled, client),
      stop,
    };
  } catch (error) {
    for (const m of members) if (m !== null) console.error(`concord node (pid ${m.pid}) stderr (tail):\n${m.stderrTail()}`);
    await stop();
    throw error;
  }
}

/** `etcd --version`'s first line's version, or undefined when etcd does not run. */
export function etcdVersion(etcd: string): string | undefined {
  const out = spawnSync(etcd, ["--version"], { encoding: "utf8" });
  return /etcd Version: (\S+)/.exec(out.stdout ?? "")?.[1];
}

/** A member's own id and the leader's, from etcd's gRPC gateway (`/v3/maintenance/status`). */
async function etcdStatus(port: number): Promise<{ member: string; leader: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v3/maintenance/status`, { method: "POST", body: "{}" });
    const s = (await res.json()) as { header?: { member_id?: string }; leader?: string };
    return s.header?.member_id !== undefined && s.leader !== undefined ? { member: s.header.member_id, leader: s.leader } : undefined;
  } catch {
    return undefined;
  }
}

/** Starts a three-member etcd cluster (`etcd` at the given path) and clients; resolves once a member leads and a put went through. */
export async function startEtcdCluster(etcd: string, version: string): Promise<ConsensusSystem> {
  const names = Array.from({ length: MEMBERS }, (_, i) => `e${i + 1}`);
  const dirs = names.map((n) => benchTempDir(`concord-bench-etcd-${n}-`));
  const clientPorts: number[] = [];
  const peerPorts: number[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    clientPorts.push(await freePort());
    peerPorts.push(await freePort());
  }
  const cluster = names.map((n, i) => `${n}=http://127.0.0.1:${peerPorts[i]}`).join(",");
  const members: (BenchProcess | null)[] = names.map(() => null);
  const clients: Etcd3[] = [];
  let firstStart = true;
  const start = async (i: number): Promise<void> => {
    const args = [
      ...["--name", names[i]!, "--data-dir", dirs[i]!],
      ...["--listen-client-urls", `http://127.0.0.1:${clientPorts[i]}`, "--advertise-client-urls", `http://127.0.0.1:${clientPorts[i]}`],
      ...["--listen-peer-urls", `http://127.0.0.1:${peerPorts[i]}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peerPorts[i]}`],
      ...["--initial-cluster", cluster, "--initial-cluster-state", firstStart ? "new" : "existing", "--initial-cluster-token", "concord-bench"],
      ...["--heartbeat-interval", String(HEARTBEAT_MS), "--election-timeout", String(ELECTION_MS), "--log-level", "info", "--logger", "zap"],
    ];
    // etcd logs to stderr, and says there when it serves clients (once its cluster has a quorum).
    const p = await startProcess({ name: `etcd ${names[i]}`, command: etcd, args, ready: /serving client traffic/, readyOn: "stderr", readyTimeoutMs: READY_TIMEOUT_MS });
    members[i] = p;
  };
  const settled = async (): Promise<void> => {
    let last = "";
    await pollUntil(
      () => `every etcd member to know one leader (last: ${last})`,
      async () => {
        const st = await Promise.all(clientPorts.map(etcdStatus));
        last = JSON.stringify(st);
        const leaders = new Set(st.map((s) => s?.leader));
        return st.every((s) => s !== undefined && s.leader !== "0") && leaders.size === 1;
      },
      20,
      30_000,
    );
  };
  const leader = async (): Promise<number> => {
    const st = await Promise.all(clientPorts.map(etcdStatus));
    const i = st.findIndex((s) => s !== undefined && s.member === s.leader);
    if (i < 0) throw new Error(`no etcd member leads: ${JSON.stringify(st)}`);
    return i;
  };
  const open = (ports: readonly number[], deadlineMs: number): ConsensusClient => {
    const c = new Etcd3({
      hosts: ports.map((p) => `http://127.0.0.1:${p}`),
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + deadlineMs }),
    });
    clients.push(c);
    return {
      put: async (key, value) => void (await c.put(key).value(value)),
      get: async (key) => (await c.get(key).string()) ?? undefined,
      close: async () => c.close(),
    };
  };
  const stop = async (): Promise<void> => {
    for (const c of clients) c.close();
    await Promise.all(members.map((m) => m?.stop()));
    for (const dir of dirs) removeTempDir(dir);
  };
  try {
    await Promise.all(names.map((_, i) => start(i)));
    firstStart = false;
    await settled();
    const client = open([clientPorts[await leader()]!], 30_000);
    // A put sent to a member whose leader just died waits out etcd's request timeout (7 s with these
    // settings) before it fails: the failover client gives each attempt 50 ms (a put takes about 1)
    // and tries again, so that what is measured is etcd's election, not its timeout.
    const anyClient = open(clientPorts, FAILOVER_ATTEMPT_MS);
    await client.put("bench/ready", "1");
    return {
      name: ETCD,
      version,
      client,
      anyClient,
      leader,
      ...memberControls(members, start, settled, anyClient),
      stop,
    };
  } catch (error) {
    for (const m of members) if (m !== null) console.error(`etcd (pid ${m.pid}) stderr (tail):\n${m.stderrTail()}`);
    await stop();
    throw error;
  }
}
