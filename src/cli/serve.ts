/**
 * `concord serve`: runs the sync server until SIGINT or SIGTERM, then shuts it down gracefully
 * (connections closed with 1001, every document flushed) and exits 0. Prints one line on stdout
 * once it listens (`concord serve: listening on ws://host:port (data: dir)`, `wss://` with TLS),
 * then a second one: who may connect (the auth file and its token count), or, without `--auth`, a
 * warning that it is open to anyone. Logs (the server's and the signals it got) go to stderr as
 * JSON lines. A bad flag, auth file, certificate or key exits 2 before listening.
 */
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { isConcordError } from "../errors.js";
import { loadAuthFile, type AuthConfig } from "../ops/auth.js";
import { integerFlag, logSinkFlag, parseFlags, readPem, textFlag, UsageError } from "./flags.js";
import { catchShutdownSignals } from "./shutdown-signals.js";
import { DEFAULT_AUTH_TIMEOUT_MS } from "../server/admission.js";
import { ServerLog } from "../ops/log.js";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_HOST,
  DEFAULT_IDLE_UNLOAD_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_TOTAL_BUFFERED_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_DOC_BYTES,
  DEFAULT_PORT,
  DEFAULT_SERVER_MAX_MESSAGE_BYTES,
  startServer,
  type SyncServer,
} from "../server/server.js";

export const SERVE_USAGE = `Usage: concord serve [--port ${DEFAULT_PORT}] [--host ${DEFAULT_HOST}] [--data ${DEFAULT_DATA_DIR}]
                     [--auth <file>] [--tls-cert <file> --tls-key <file>]
                     [--max-connections ${DEFAULT_MAX_CONNECTIONS}] [--max-doc-bytes ${DEFAULT_MAX_DOC_BYTES}]
                     [--idle-unload-ms ${DEFAULT_IDLE_UNLOAD_MS}] [--max-message-bytes ${DEFAULT_SERVER_MAX_MESSAGE_BYTES}]
                     [--max-buffered-bytes ${DEFAULT_MAX_BUFFERED_BYTES}] [--max-total-buffered-bytes ${DEFAULT_MAX_TOTAL_BUFFERED_BYTES}]
                     [--auth-timeout-ms ${DEFAULT_AUTH_TIMEOUT_MS}] [--log-level info]
                     [--static <dir>|none]
                     [--redis <url> --postgres <url> [--instance <name>] [--compaction on|off]]

Runs the sync server: stock y-websocket clients and Concord stores sync documents through it at
ws://<host>:<port>/<document> (wss:// with TLS). GET /healthz and GET /metrics (Prometheus) on the
same port. SIGINT or SIGTERM shuts it down gracefully (every document flushed to disk) and exits 0;
SIGHUP re-reads the --auth file.

  --port <n>               TCP port, 0 to 65535 (0 picks a free one). Default ${DEFAULT_PORT}.
  --host <address>         interface to listen on. Default ${DEFAULT_HOST} (this machine only);
                           0.0.0.0 listens on every interface.
  --data <dir>             folder of the documents, created if missing. Default ${DEFAULT_DATA_DIR}.
  --auth <file>            who may open which document: a JSON file of tokens (format below).
                           Without it, anyone who can reach the address can read and write every
                           document.
  --tls-cert <file>        serve over TLS (wss://) with this PEM certificate (chain); needs --tls-key.
  --tls-key <file>         the PEM private key of --tls-cert.
  --max-connections <n>    most WebSocket connections at once; one more is closed with 1013
                           ("try again later": clients retry). Default ${DEFAULT_MAX_CONNECTIONS}.
  --max-doc-bytes <n>      largest a document may grow (its stored snapshot + log, in bytes); a
                           change past it is refused, never applied, and its connection closed
                           with 4413. Default ${DEFAULT_MAX_DOC_BYTES} (64 MiB).
  --idle-unload-ms <ms>    unload a document from memory after this long with no connection
                           (it is flushed first). Default ${DEFAULT_IDLE_UNLOAD_MS}.
  --max-message-bytes <n>  largest WebSocket message accepted; a larger one closes its connection
                           with 1009. Default ${DEFAULT_SERVER_MAX_MESSAGE_BYTES} (10 MiB).
  --max-buffered-bytes <n> bytes waiting to be sent to one connection past which it is cut as too
                           slow a reader, its buffers released (it reconnects and resyncs).
                           Default ${DEFAULT_MAX_BUFFERED_BYTES}.
  --max-total-buffered-bytes <n>
                           bytes waiting for all connections together past which the biggest
                           holders are cut, so that clients that stop reading cannot take the
                           server's memory. At least --max-buffered-bytes. Default ${DEFAULT_MAX_TOTAL_BUFFERED_BYTES}.
  --auth-timeout-ms <ms>   with --auth, how long a connection without ?token= has to send its
                           token in a first message before it is closed with 4401. Default ${DEFAULT_AUTH_TIMEOUT_MS}.
  --log-level <level>      least severe log entries written: debug, info, warn or error. Default info.
  --static <dir>|none      a folder of web files to serve at http://<host>:<port>/ (read at start,
                           32 MiB at most). Default: Concord's demo app (a shared todo list that
                           syncs through this server); none serves no page.

Scale-out (any number of instances, each serving every document, behind a load balancer):
  --redis <url>            redis://host:port: each document's updates go to a Redis stream that
                           every instance follows, presence goes over Redis pub/sub. Redis must
                           run with appendonly yes and appendfsync always (checked at start): an
                           update is acknowledged to its author once Redis has it on disk.
  --postgres <url>         postgres://user@host:port/db: documents' compacted snapshots (table
                           concord_snapshots, created when missing). Needs fsync = on and
                           synchronous_commit = on (checked at start). --data is not used.
  --instance <name>        this instance's name among the instances (letters, digits, . _ -).
                           Default: <hostname>-<pid>.
  --compaction on|off      run a compaction worker in this instance (folds each stream into its
                           snapshot and trims it). Default on; with off, run \`concord worker\`.
  /healthz says "failing" (503) while Redis or PostgreSQL does not answer; an instance that can't
  append to Redis acknowledges nothing and closes the document's connections (clients reconnect).

The --auth file:
  { "tokens": {
      "<token>": { "docs": ["todos", "notes-*"], "access": "read-write" },
      "<other>": { "docs": ["*"], "access": "read-only" } } }
  Clients send their token in the URL: ws://host:port/<document>?token=<token> (Concord:
  sync: { url, token }; y-websocket: params: { token }), or, to keep it out of URLs and access
  logs, in a first concord-auth message (Concord: sync: { url, token, tokenIn: "message" }).
  "docs" lists the documents the token may
  open; a trailing * matches every name starting with what precedes it ("*" alone: every document).
  "access" is "read-write" or "read-only": a read-only connection receives the document, its
  updates and presence (its own presence is relayed too), but each change it sends is answered
  "permission denied" (y-websocket auth message) and never applied. No or an unknown token: the
  connection is closed with 4401; a token not allowed the document: 4403 (clients stop retrying).
  An unreadable or malformed file exits 2 naming the problem. SIGHUP re-reads the file: open
  connections it no longer allows are closed (4401/4403), those whose access it changed are closed
  with 1012 (they reconnect with the new access); a bad file is logged and changes nothing.

Logs go to stderr, one JSON object per line (tokens are never logged).
`;

const FLAGS = [
  "port",
  "host",
  "data",
  "idle-unload-ms",
  "max-message-bytes",
  "auth",
  "tls-cert",
  "tls-key",
  "max-connections",
  "max-doc-bytes",
  "auth-timeout-ms",
  "max-buffered-bytes",
  "max-total-buffered-bytes",
  "log-level",
  "static",
  "redis",
  "postgres",
  "instance",
  "compaction",
] as const;

/** The demo app's built files, beside the CLI in the package (`npm run build` makes them). */
const DEMO_DIR = fileURLToPath(new URL("../demo/", import.meta.url));

/** Runs `concord serve` with its arguments; resolves with the exit code once the server stopped. */
export async function serve(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  const flags = parseFlags(args, FLAGS);
  const port = integerFlag(flags, "port", DEFAULT_PORT, 0, 65535);
  const host = textFlag(flags, "host", DEFAULT_HOST, "address");
  const dataDir = textFlag(flags, "data", DEFAULT_DATA_DIR, "folder");
  const idleUnloadMs = integerFlag(flags, "idle-unload-ms", DEFAULT_IDLE_UNLOAD_MS, 0, Number.MAX_SAFE_INTEGER);
  const maxMessageBytes = integerFlag(flags, "max-message-bytes", DEFAULT_SERVER_MAX_MESSAGE_BYTES, 1, 2 ** 32 - 1);
  const maxConnections = integerFlag(flags, "max-connections", DEFAULT_MAX_CONNECTIONS, 1, Number.MAX_SAFE_INTEGER);
  const maxDocBytes = integerFlag(flags, "max-doc-bytes", DEFAULT_MAX_DOC_BYTES, 1, Number.MAX_SAFE_INTEGER);
  const maxBufferedBytes = integerFlag(flags, "max-buffered-bytes", DEFAULT_MAX_BUFFERED_BYTES, 1, Number.MAX_SAFE_INTEGER);
  const maxTotalBufferedBytes = integerFlag(flags, "max-total-buffered-bytes", Math.max(DEFAULT_MAX_TOTAL_BUFFERED_BYTES, maxBufferedBytes), 1, Number.MAX_SAFE_INTEGER);
  if (maxTotalBufferedBytes < maxBufferedBytes) throw new UsageError(`--max-total-buffered-bytes (${maxTotalBufferedBytes}) must be at least --max-buffered-bytes (${maxBufferedBytes})`);
  const authTimeoutMs = integerFlag(flags, "auth-timeout-ms", DEFAULT_AUTH_TIMEOUT_MS, 1, Number.MAX_SAFE_INTEGER);
  const sink = logSinkFlag(flags);
  const staticFlag = flags.get("static");
  const staticDir = staticFlag === "none" ? undefined : (staticFlag ?? (existsSync(`${DEMO_DIR}index.html`) ? DEMO_DIR : undefined));
  const authFile = flags.get("auth");
  let auth: AuthConfig | undefined;
  if (authFile !== undefined) {
    try {
      auth = loadAuthFile(authFile);
    } catch (e) {
      if (isConcordError(e, "InvalidArgument")) throw new UsageError(`--auth: ${e.message}`);
      throw e;
    }
  }
  const tlsCert = flags.get("tls-cert");
  const tlsKey = flags.get("tls-key");
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError("--tls-cert and --tls-key go together: give both, or neither");
  const tls = tlsCert !== undefined && tlsKey !== undefined ? { cert: readPem("tls-cert", tlsCert), key: readPem("tls-key", tlsKey) } : undefined;

  const scaleOutFlags = scaleOutOptions(flags);
  const signals = catchShutdownSignals("serve");
  let server: SyncServer;
  try {
    const scaleOut =
      scaleOutFlags === undefined
        ? undefined
        : await (await import("../hub/scale-out.js")).connectScaleOut({ ...scaleOutFlags, onLog: sink }).catch((e: unknown) => {
            throw isConcordError(e, "InvalidArgument") ? new UsageError(e.message) : e;
          });
    server = await startServer({
      ...(scaleOut ? { scaleOut } : {}),
      host,
      port,
      ...(scaleOutFlags ? {} : { dataDir }),
      idleUnloadMs,
      maxMessageBytes,
      maxConnections,
      maxDocBytes,
      // The path, not the parsed table: SIGHUP re-reads it.
      ...(auth ? { auth: authFile } : {}),
      authTimeoutMs,
      maxBufferedBytes,
      maxTotalBufferedBytes,
      ...(tls ? { tls } : {}),
      ...(staticDir !== undefined ? { staticDir } : {}),
      onLog: sink,
    });
  } catch (e) {
    signals.release();
    // Only the certificate, the key or the --static folder can still be refused here (the rest was checked above).
    if (isConcordError(e, "InvalidArgument")) throw new UsageError(e.message);
    throw e;
  }
  const running = server;
  process.stdout.write(
    `concord serve: listening on ${running.url} (${scaleOutFlags ? `instance ${scaleOutFlags.instance} of ${scaleOutFlags.redis} + ${scaleOutFlags.postgres.replace(/:[^:@/]*@/, ":***@")}` : `data: ${dataDir}`})\n` +
      (staticDir === undefined ? "" : `concord serve: ${staticFlag === undefined ? "demo app" : "app"} at ${running.url.replace(/^ws/, "http")}/\n`) +
      (auth === undefined
        ? "concord serve: open to anyone: no --auth, so whoever reaches this address can read and write every document\n"
        : `concord serve: auth: ${Object.keys(auth.tokens).length} token(s) from ${authFile}; clients send ?token=<token> or a concord-auth first message; SIGHUP reloads the file\n`),
  );

  const log = new ServerLog(sink);
  const onHangup = (): void => {
    if (authFile === undefined) {
      log.warn("serve.signal", { signal: "SIGHUP", action: "ignored: no --auth file to reload" });
      return;
    }
    try {
      running.reloadAuth(); // logs auth.reloaded
    } catch (error) {
      log.error("auth.reload_failed", { file: authFile, error, action: "kept the tokens in force" });
    }
  };
  process.on("SIGHUP", onHangup);
  return signals.closeOnSignal(() => running.close(), log);
}

/** `--redis`, `--postgres`, `--instance`, `--compaction`: both engines or neither. */
function scaleOutOptions(flags: ReadonlyMap<string, string>): { redis: string; postgres: string; instance: string; compaction: false | object } | undefined {
  const redis = flags.get("redis");
  const postgres = flags.get("postgres");
  const extra = ["instance", "compaction"].find((f) => flags.has(f));
  if (redis === undefined && postgres === undefined) {
    if (extra !== undefined) throw new UsageError(`--${extra} goes with --redis and --postgres (scale-out)`);
    return undefined;
  }
  if (redis === undefined || postgres === undefined) throw new UsageError("scale-out takes both --redis <url> and --postgres <url>");
  if (flags.has("data")) throw new UsageError("--data is not used with --redis and --postgres: documents live in them");
  const compaction = flags.get("compaction") ?? "on";
  if (compaction !== "on" && compaction !== "off") throw new UsageError(`--compaction must be on or off, got ${JSON.stringify(compaction)}`);
  const instance = flags.get("instance") ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 50)}-${process.pid}`;
  return { redis, postgres, instance, compaction: compaction === "on" ? {} : false };
}
