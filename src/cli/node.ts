/**
 * `concord node`: runs one `primary`-mode node (a primary or a read replica, `node-servers.ts`)
 * until SIGINT or SIGTERM, then shuts it down gracefully (clients closed with 1001, the log
 * flushed) and exits 0. Prints one line on stdout once it serves:
 * `concord node: <id> listening on ws://host:port as <role> of epoch <e> at LSN <n> (primary: <id>; data: <dir>)`.
 * Logs go to stderr as JSON lines. A bad flag exits 2 before listening.
 */
import { isConcordError } from "../errors.js";
import { checkNodeServerOptions, startNodeServer, type NodeServerOptions } from "../node-servers.js";
import type { PrimaryEngine } from "../primary/primary-engine.js";
import type { NodeServer } from "../service/node-server.js";
import { ServerLog } from "../ops/log.js";
import { integerFlag, logSinkFlag, parseFlags, textFlag, UsageError } from "./flags.js";
import { catchShutdownSignals } from "./shutdown-signals.js";

export const DEFAULT_NODE_PORT = 5001;

export const NODE_USAGE = `Usage: concord node --mode primary|replica --id <id> [--port ${DEFAULT_NODE_PORT}] [--host 127.0.0.1]
                    [--data ./concord-node-<id>] [--primary <id>=ws://host:port]
                    [--peers <id>=ws://host:port,...] [--min-replicas 0] [--max-lag-ms 10000]
                    [--log-level info]

Runs one node of a primary-mode group: the primary orders every write, read replicas follow it
and serve possibly stale reads. Clients speak Concord's client protocol at ws://<host>:<port>/client;
nodes link at /peer. SIGINT or SIGTERM shuts it down gracefully and exits 0.
\`concord promote --node <url>\` makes a replica the primary.

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

The endpoints do not authenticate anyone (any client may promote): run nodes on a trusted network.
`;

const FLAGS = ["mode", "id", "port", "host", "data", "primary", "peers", "min-replicas", "max-lag-ms", "log-level"] as const;

/** The flag that set each option of startNodeServer, to name it in errors. */
const OPTION_FLAGS: Readonly<Record<string, string>> = {
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
  const flags = parseFlags(args, FLAGS);
  const mode = flags.get("mode");
  if (mode !== "primary" && mode !== "replica") throw new UsageError(`--mode must be primary or replica, got ${mode === undefined ? "nothing" : JSON.stringify(mode)}`);
  const id = flags.get("id");
  if (id === undefined || id.length === 0) throw new UsageError("--id needs this node's name, e.g. --id p1");
  const port = integerFlag(flags, "port", DEFAULT_NODE_PORT, 0, 65535);
  const host = textFlag(flags, "host", "127.0.0.1", "address");
  const dataDir = textFlag(flags, "data", `./concord-node-${id}`, "folder");
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
  const sink = logSinkFlag(flags);

  const options: NodeServerOptions = { id, host, port, dataDir, role, peers, log: sink, primaryOptions: { minReplicas, maxLagMs } };
  try {
    checkNodeServerOptions(options);
  } catch (e) {
    // Ids and URLs were only split here: the node server names what it refuses in them.
    if (isConcordError(e, "InvalidArgument")) throw new UsageError(e.message.replace(/^startNodeServer: ([\w.]+)/, (_, name: string) => OPTION_FLAGS[name] ?? name));
    throw e;
  }

  const signals = catchShutdownSignals("node");
  let server: NodeServer<PrimaryEngine>;
  try {
    server = await startNodeServer(options);
  } catch (e) {
    signals.release();
    throw e;
  }
  const running = server;
  const st = running.engine.node.status();
  process.stdout.write(`concord node: ${id} listening on ${running.url} as ${st.role} of epoch ${st.epoch} at LSN ${st.lsn} (primary: ${st.primary}; data: ${dataDir})\n`);
  return signals.closeOnSignal(() => running.close(), new ServerLog(sink));
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
