/**
 * `concord serve`: runs the sync server until SIGINT or SIGTERM, then shuts it down gracefully
 * (connections closed with 1001, every document flushed) and exits 0. Prints one line on stdout
 * once it listens (`concord serve: listening on ws://host:port (data: dir)`), then a warning that
 * it is open to anyone; logs (the server's and the signals it got) go to stderr as JSON lines.
 */
import { parseFlags, UsageError } from "./flags.js";
import { ServerLog, stderrLogSink } from "../server/log.js";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_HOST,
  DEFAULT_IDLE_UNLOAD_MS,
  DEFAULT_PORT,
  DEFAULT_SERVER_MAX_MESSAGE_BYTES,
  startServer,
  type SyncServer,
} from "../server/server.js";

export const SERVE_USAGE = `Usage: concord serve [--port ${DEFAULT_PORT}] [--host ${DEFAULT_HOST}] [--data ${DEFAULT_DATA_DIR}]
                     [--idle-unload-ms ${DEFAULT_IDLE_UNLOAD_MS}] [--max-message-bytes ${DEFAULT_SERVER_MAX_MESSAGE_BYTES}]

Runs the sync server: stock y-websocket clients and Concord stores sync documents through it at
ws://<host>:<port>/<document>. GET /healthz and GET /metrics (Prometheus) on the same port.
SIGINT or SIGTERM shuts it down gracefully (every document flushed to disk) and exits 0.

  --port <n>               TCP port, 0 to 65535 (0 picks a free one). Default ${DEFAULT_PORT}.
  --host <address>         interface to listen on. Default ${DEFAULT_HOST} (this machine only);
                           0.0.0.0 listens on every interface.
  --data <dir>             folder of the documents, created if missing. Default ${DEFAULT_DATA_DIR}.
  --idle-unload-ms <ms>    unload a document from memory after this long with no connection
                           (it is flushed first). Default ${DEFAULT_IDLE_UNLOAD_MS}.
  --max-message-bytes <n>  largest WebSocket message accepted; a larger one closes its connection.
                           Default ${DEFAULT_SERVER_MAX_MESSAGE_BYTES} (10 MiB).

There is no authentication yet: anyone who can reach the address can read and write every document.
Logs go to stderr, one JSON object per line.
`;

const FLAGS = ["port", "host", "data", "idle-unload-ms", "max-message-bytes"] as const;

/** Runs `concord serve` with its arguments; resolves with the exit code once the server stopped. */
export async function serve(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  const flags = parseFlags(args, FLAGS);
  const port = integerFlag(flags, "port", DEFAULT_PORT, 0, 65535);
  const host = flags.get("host") ?? DEFAULT_HOST;
  if (host.length === 0) throw new UsageError("--host needs a non-empty address");
  const dataDir = flags.get("data") ?? DEFAULT_DATA_DIR;
  if (dataDir.length === 0) throw new UsageError("--data needs a non-empty folder");
  const idleUnloadMs = integerFlag(flags, "idle-unload-ms", DEFAULT_IDLE_UNLOAD_MS, 0, Number.MAX_SAFE_INTEGER);
  const maxMessageBytes = integerFlag(flags, "max-message-bytes", DEFAULT_SERVER_MAX_MESSAGE_BYTES, 1, 2 ** 32 - 1);

  // Listen for signals BEFORE saying we are ready: whoever reads "listening on" may signal at once.
  let signalledEarly: NodeJS.Signals | undefined;
  let onSignal = (signal: NodeJS.Signals): void => {
    signalledEarly ??= signal;
  };
  const handler = (signal: NodeJS.Signals): void => onSignal(signal);
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  let server: SyncServer;
  try {
    server = await startServer({
      host,
      port,
      dataDir,
      idleUnloadMs,
      maxMessageBytes,
      onLog: stderrLogSink,
    });
  } catch (e) {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
    throw e;
  }
  const running = server;
  process.stdout.write(
    `concord serve: listening on ${running.url} (data: ${dataDir})\n` +
      "concord serve: open to anyone: there is no authentication yet, so whoever reaches this address can read and write every document\n",
  );

  const log = new ServerLog(stderrLogSink);
  return new Promise<number>((resolve) => {
    let stopping = false;
    onSignal = (signal) => {
      if (stopping) {
        log.warn("serve.signal", { signal, action: "exiting without waiting for the shutdown" });
        resolve(1);
        return;
      }
      stopping = true;
      log.info("serve.signal", { signal, action: "shutting down gracefully; send it again to exit at once" });
      running.close().then(
        () => resolve(0),
        (error: unknown) => {
          log.error("serve.shutdown_failed", { error });
          resolve(1);
        },
      );
    };
    if (signalledEarly !== undefined) onSignal(signalledEarly);
  });
}

function integerFlag(flags: Map<string, string>, name: string, fallback: number, min: number, max: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
