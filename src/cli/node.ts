/**
 * `concord node`: runs one node (`node-servers.ts`) until SIGINT or SIGTERM, then shuts it down
 * gracefully (clients closed with 1001, the log flushed) and exits 0: a `primary`-mode primary or
 * read replica, or a `strong`-mode Raft server. Prints one line on stdout once it serves:
 * `concord node: <id> listening on ws://host:port as <role> of epoch <e> at LSN <n> (primary: <id>; data: <dir>)`
 * or `concord node: <id> listening on ws://host:port as a strong-mode member of <a,b,c> (term <t>, leader <id|none yet>; data: <dir>)`.
 * Logs go to stderr as JSON lines. A bad flag exits 2 before listening.
 */
import { isConcordError } from "../errors.js";
import { checkNodeServerOptions, startNodeServer, type PrimaryNodeServerOptions, type StrongNodeServerOptions } from "../node-servers.js";
import type { LogSink } from "../ops/log.js";
import type { PrimaryEngine } from "../primary/primary-engine.js";
import type { ServedEngine } from "../service/engine.js";
import type { NodeServer } from "../service/node-server.js";
import { StrongEngine } from "../strong/strong-engine.js";
import { ServerLog } from "../ops/log.js";
import { integerFlag, logSinkFlag, parseFlags, readPem, textFlag, UsageError } from "./flags.js";
import { catchShutdownSignals } from "./shutdown-signals.js";

export const DEFAULT_NODE_PORT = 5001;

export const NODE_USAGE = `Usage: concord node --mode primary|replica --id <id> [--port ${DEFAULT_NODE_PORT}] [--host 127.0.0.1]
                    [--data ./concord-node-<id>] [--primary <id>=ws://host:port]
                    [--peers <id>=ws://host:port,...] [--min-replicas 0] [--max-lag-ms 10000]
                    [--log-level info]
       concord node --mode strong --id <id> [--port ${DEFAULT_NODE_PORT}] [--host 127.0.0.1]
                    [--data ./concord-node-<id>] --peers <id>=ws://host:port,... [--join]
                    [--heartbeat-ms 100] [--election-ms 1000] [--lease-reads] [--log-level info]

Runs one node. --mode primary|replica: a node of a primary-mode group (the primary orders every
write, read replicas follow it and serve possibly stale reads; \`concord promote --node <url>\`
makes a replica the primary). --mode strong: a server of a Raft cluster (linearizable reads and
writes; only a majority serves; \`concord admin\` changes the membership). Clients speak Concord's
client protocol at ws://<host>:<port>/client; nodes link at /peer. SIGINT or SIGTERM shuts the node
down gracefully and exits 0.

  GET /healthz            JSON: role, epoch, LSN, lag, fencing, discarded records. 200 while the
                          node serves; 503 while it starts or stops, and with status "failed" and
                          the error once its storage failed (it refuses writes until restarted).
  GET /metrics            that state, client connections and request outcomes as Prometheus
                          metrics (text format 0.0.4): concord_node_role, concord_node_lsn,
                          concord_node_lag_records, concord_node_failed, concord_requests_total...

  --mode <m>              primary or replica: the node's role on its FIRST start (empty --data).
                          After that its log decides: a restarted old primary follows the newer
                          primary as soon as it hears of it, discarding the writes no one else had.
  --id <id>               this node's name in the group (how its peers address it).
  --port <n>              TCP port, 0 to 65535 (0 picks a free one). Default ${DEFAULT_NODE_PORT}.
  --host <address>        interface to listen on. Default 127.0.0.1; 0.0.0.0 for every interface.
  --data <dir>            folder of the node's write-ahead log, created if missing. One node per
                          folder. Default ./concord-node-<id>.
  --primary <id>=<url>    with --mode replica (required there): the primary to follow, by id and
                          base URL, e.g. p1=ws://127.0.0.1:5001.
  --peers <id>=<url>,...  the other nodes of the group. Each is dialed; once promoted, this node
                          tells each of them it leads. Give every node the full list (its own entry
                          is skipped) so whichever is promoted reaches all the others.
  --min-replicas <n>      while primary, refuse writes unless n replicas were heard within
                          --max-lag-ms. Default 0.
  --max-lag-ms <ms>       a replica counts as fresh when heard within this many ms. Default 10000.
  --log-level <level>     least severe log entries written: debug, info, warn or error. Default info.

Strong mode:
  --peers <id>=<url>,...  the cluster's members (this node may be among them). On its first start
                          (empty --data) a node founds the cluster of itself and --peers, so start
                          every founding member with the same list; afterwards its log decides.
  --join                  first start only: join an existing cluster instead of founding one. The
                          node waits, empty, until \`concord admin add-learner\` adds it; list the
                          existing members in --peers so it can reach them.
  --heartbeat-ms <ms>     the leader's heartbeat interval (one Raft tick). Default 100.
  --election-ms <ms>      election timeout: a follower that heard no leader for this long (to twice
                          as long, at random) campaigns. A multiple of --heartbeat-ms. Default 1000.
  --lease-reads           answer linearizable reads from the leader's lease, without a heartbeat
                          round (thesis 6.4.1): faster, and correct only while clock rates stay
                          within one heartbeat of each other over an election timeout.
  GET /healthz            JSON: role, term, leader, commit and applied index, membership; 503 while
                          no leader is known, and once the storage failed.
  GET /metrics            concord_raft_role, _term, _commit_index, _applied_index, _proposals_total,
                          _elections_total, _leader_changes_total, _fsync_seconds (histogram)...

Who gets in (every mode):
  --auth <file>           the auth file \`concord serve --auth\` reads: tokens mapped to documents and
                          "read-write", "read-only" or "admin" access. Clients send ?token=<token>;
                          only "admin" tokens may promote or change the membership. SIGHUP re-reads
                          the file. Without it, anyone who reaches the node reads, writes and
                          administers it.
  --peer-secret-file <f>  a secret (at least 16 characters) every node of the group shares: the
                          links a node dials present it, and /peer refuses links without it.
                          Without it, a peer is whoever says it is.
  --tls-cert <file>       serve wss:// with this certificate (PEM), with --tls-key <file>.
  --tls-ca <file>         trust this certificate authority (PEM) when dialing wss:// peers.
`;

const FLAGS = [
  "mode",
  "id",
  "port",
  "host",
  "data",
  "primary",
  "peers",
  "min-replicas",
  "max-lag-ms",
  "join",
  "heartbeat-ms",
  "election-ms",
  "lease-reads",
  "auth",
  "peer-secret-file",
  "tls-cert",
  "tls-key",
  "tls-ca",
  "log-level",
] as const;

/** Flags that take no value. */
const SWITCHES = ["join", "lease-reads"] as const;

/** The flag that set each option of startNodeServer, to name it in errors. */
const OPTION_FLAGS: Readonly<Record<string, string>> = {
  auth: "--auth",
  peerSecret: "--peer-secret-file",
  "tls.cert": "--tls-cert",
  "tls.key": "--tls-key",
  tlsCa: "--tls-ca",
  id: "--id",
  host: "--host",
  port: "--port",
  dataDir: "--data",
  "role.replicaOf": "--primary",
  "role.replicaOf.id": "--primary",
  peers: "--peers",
};

/** Runs `concord node` with its arguments; resolves with the exit code once the node stopped. */
export async function node(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(NODE_USAGE);
    return 0;
  }
  const flags = parseFlags(withSwitchValues(args, SWITCHES), FLAGS);
  const mode = flags.get("mode");
  if (mode !== "primary" && mode !== "replica" && mode !== "strong") throw new UsageError(`--mode must be primary, replica or strong, got ${mode === undefined ? "nothing" : JSON.stringify(mode)}`);
  const id = flags.get("id");
  if (id === undefined || id.length === 0) throw new UsageError("--id needs this node's name, e.g. --id p1");
  const port = integerFlag(flags, "port", DEFAULT_NODE_PORT, 0, 65535);
  const host = textFlag(flags, "host", "127.0.0.1", "address");
  const dataDir = textFlag(flags, "data", `./concord-node-${id}`, "folder");
  const sink = logSinkFlag(flags);
  const base = { id, host, port, dataDir, log: sink, ...securityOptions(flags) };
  if (mode === "strong") return runNode(strongOptions(flags, base), sink, dataDir);
  for (const f of ["join", "heartbeat-ms", "election-ms", "lease-reads"]) {
    if (flags.has(f)) throw new UsageError(`--${f} is for --mode strong`);
  }
  const primaryFlag = flags.get("primary");
  let role: "primary" | { replicaOf: { id: string; url: string } } = "primary";
  if (mode === "replica") {
    if (primaryFlag === undefined) throw new UsageError("--mode replica needs --primary <id>=<url>, the primary to follow (e.g. --primary p1=ws://127.0.0.1:5001)");
    const pairs = peerList("primary", primaryFlag);
    if (pairs.length !== 1) throw new UsageError(`--primary names one node, got ${pairs.length} (list the others with --peers)`);
    const [primaryId, primaryUrl] = pairs[0]!;
    if (primaryId === id) throw new UsageError(`--primary names this node itself (${id}): a replica follows another node`);
    role = { replicaOf: { id: primaryId, url: primaryUrl } };
  } else if (primaryFlag !== undefined) {
    throw new UsageError("--primary is for --mode replica: a primary follows no one (list the other nodes with --peers)");
  }
  const peersFlag = flags.get("peers");
  const peers = new Map(peersFlag === undefined ? [] : peerList("peers", peersFlag));
  const minReplicas = integerFlag(flags, "min-replicas", 0, 0, Number.MAX_SAFE_INTEGER);
  const maxLagMs = integerFlag(flags, "max-lag-ms", 10_000, 1, Number.MAX_SAFE_INTEGER);
  return runNode({ ...base, role, peers, primaryOptions: { minReplicas, maxLagMs } }, sink, dataDir);
}

/** The auth file, peer secret and TLS options the flags give. */
function securityOptions(flags: ReadonlyMap<string, string>): Pick<StrongNodeServerOptions, "auth" | "peerSecret" | "tls" | "tlsCa"> {
  const auth = flags.get("auth");
  const secretFile = flags.get("peer-secret-file");
  const tlsCert = flags.get("tls-cert");
  const tlsKey = flags.get("tls-key");
  const tlsCa = flags.get("tls-ca");
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError("--tls-cert and --tls-key go together: give both, or neither");
  return {
    // The path, not the parsed table: SIGHUP re-reads it.
    ...(auth === undefined ? {} : { auth }),
    ...(secretFile === undefined ? {} : { peerSecret: readPem("peer-secret-file", secretFile).toString("utf8").trim() }),
    ...(tlsCert === undefined || tlsKey === undefined ? {} : { tls: { cert: readPem("tls-cert", tlsCert), key: readPem("tls-key", tlsKey) } }),
    ...(tlsCa === undefined ? {} : { tlsCa: readPem("tls-ca", tlsCa) }),
  };
}

/** The options of a strong-mode node from its flags. */
function strongOptions(flags: ReadonlyMap<string, string>, base: Omit<StrongNodeServerOptions, "mode">): StrongNodeServerOptions {
  for (const f of ["primary", "min-replicas", "max-lag-ms"]) {
    if (flags.has(f)) throw new UsageError(`--${f} is for --mode primary or replica; a strong-mode cluster elects its leader`);
  }
  const peersFlag = flags.get("peers");
  const join = flags.get("join") === "true";
  if (peersFlag === undefined && join) throw new UsageError("--join needs --peers listing the cluster's members, so the new node can reach them");
  const peers = new Map(peersFlag === undefined ? [] : peerList("peers", peersFlag));
  const heartbeatMs = integerFlag(flags, "heartbeat-ms", 100, 1, 60_000);
  const electionMs = integerFlag(flags, "election-ms", 10 * heartbeatMs, 2 * heartbeatMs, 3_600_000);
  if (electionMs % heartbeatMs !== 0) throw new UsageError(`--election-ms (${electionMs}) must be a multiple of --heartbeat-ms (${heartbeatMs})`);
  return {
    ...base,
    mode: "strong",
    peers,
    join,
    raft: { tickMs: heartbeatMs, electionTicks: electionMs / heartbeatMs, heartbeatTicks: 1, readOnly: flags.get("lease-reads") === "true" ? "lease" : "safe" },
  };
}

/** Starts the node, prints where it listens, and serves until a shutdown signal. */
async function runNode(options: PrimaryNodeServerOptions | StrongNodeServerOptions, sink: LogSink, dataDir: string): Promise<number> {
  try {
    checkNodeServerOptions(options);
  } catch (e) {
    // Ids and URLs were only split here: the node server names what it refuses in them.
    if (isConcordError(e, "InvalidArgument")) throw new UsageError(e.message.replace(/^startNodeServer: ([\w.]+)/, (_, name: string) => OPTION_FLAGS[name] ?? name));
    throw e;
  }
  const signals = catchShutdownSignals("node");
  let server: NodeServer<PrimaryEngine> | NodeServer<StrongEngine>;
  try {
    server = options.mode === "strong" ? await startNodeServer(options) : await startNodeServer(options);
  } catch (e) {
    signals.release();
    throw e;
  }
  const running: NodeServer<ServedEngine> = server;
  const [what, where] = describe(server);
  process.stdout.write(
    `concord node: ${options.id} listening on ${running.url} as ${what} (${where}; data: ${dataDir})\n` +
      (options.auth === undefined ? "concord node: open to anyone: no --auth, so whoever reaches this address can read, write and administer it\n" : "") +
      (options.peerSecret === undefined ? "concord node: no --peer-secret-file, so /peer takes a link from whoever says it is a member\n" : ""),
  );
  const log = new ServerLog(sink);
  process.on("SIGHUP", () => {
    if (options.auth === undefined) {
      log.warn("node.signal", { signal: "SIGHUP", action: "ignored: no --auth file to reload" });
      return;
    }
    try {
      running.reloadAuth(); // logs auth.reloaded
    } catch {
      // Logged as auth.reload_failed; the tokens in force stay.
    }
  });
  return signals.closeOnSignal(() => running.close(), log);
}

/** What a node is and where it stands, for its first line. */
function describe(server: NodeServer<PrimaryEngine> | NodeServer<StrongEngine>): [string, string] {
  const engine = server.engine;
  if (engine instanceof StrongEngine) {
    const st = engine.node.status();
    const members = [...st.conf.voters, ...st.conf.learners].join(",");
    return [members === "" ? "a strong-mode node of no cluster yet (waiting to be added)" : `a strong-mode member of ${members}`, `term ${st.term}, leader ${st.leader ?? "none yet"}`];
  }
  const st = engine.node.status();
  return [`${st.role} of epoch ${st.epoch} at LSN ${st.lsn}`, `primary: ${st.primary}`];
}

/** `args` with each valueless switch given the value "true", so that the flag parser reads it as any other. */
function withSwitchValues(args: readonly string[], switches: readonly string[]): string[] {
  const out: string[] = [];
  for (const arg of args) {
    out.push(arg);
    if (arg.startsWith("--") && switches.includes(arg.slice(2))) out.push("true");
  }
  return out;
}

/** `id=url,id=url` as pairs; a {@link UsageError} naming `--<flag>` for anything else. */
function peerList(flag: string, value: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (const item of value.split(",")) {
    const at = item.indexOf("=");
    if (at <= 0 || at === item.length - 1) {
      throw new UsageError(`--${flag} takes <id>=<url>${flag === "peers" ? "[,<id>=<url>...]" : ""}, e.g. p1=ws://127.0.0.1:5001; got ${JSON.stringify(item)}`);
    }
    const peer = item.slice(0, at);
    if (pairs.some(([known]) => known === peer)) throw new UsageError(`--${flag} names ${peer} twice`);
    pairs.push([peer, item.slice(at + 1)]);
  }
  return pairs;
}
