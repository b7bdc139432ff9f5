#!/usr/bin/env node
/**
 * The `concord` command. Each subcommand lives in its own file under `src/cli/`; this file only
 * parses the first argument and dispatches. Exit codes: 0 ok, 1 the command failed, 2 bad usage.
 */
import { readFileSync } from "node:fs";
import { parseFlags, UsageError } from "./flags.js";

const USAGE = `concord: an embedded replicated data store (eventual / primary / strong)

Usage:
  concord serve [--port 4321] [--host 127.0.0.1] [--data ./concord-data]
                [--auth <file>] [--tls-cert <file> --tls-key <file>]
                [--max-connections 10000] [--max-doc-bytes 67108864]
                [--idle-unload-ms 30000] [--max-message-bytes 10485760]
                [--redis <url> --postgres <url> [--instance <name>]]
                     run the sync server (y-websocket protocol) until SIGINT/SIGTERM, alone on
                     files or as one of many instances over Redis and PostgreSQL;
                     concord serve --help explains each flag
  concord worker --redis <url> --postgres <url> [--every-ms 5000] [--min-entries 1000]
                     compact scaled-out documents (Redis streams into PostgreSQL snapshots)
  concord node --mode primary|replica --id <id> [--port 5001] [--host 127.0.0.1]
               [--data ./concord-node-<id>] [--primary <id>=ws://host:port]
               [--peers <id>=ws://host:port,...] [--min-replicas 0] [--max-lag-ms 10000]
                     run one node of a primary-mode group (a primary or a read replica) until
                     SIGINT/SIGTERM; concord node --help explains each flag
  concord node --mode strong --id <id> --peers <id>=ws://host:port,... [--port 5001]
               [--data ./concord-node-<id>] [--join] [--heartbeat-ms 100] [--election-ms 1000]
                     run one server of a strong-mode (Raft) cluster until SIGINT/SIGTERM
  concord promote --node ws://host:port [--timeout-ms 10000]
                     make a running replica the primary of a new epoch (fences the old primary)
  concord admin --node ws://host:port add-learner <id>=<url> | promote-learner <id> |
                remove <id> | transfer <id> | status
                     change a strong-mode cluster's membership or leader
  concord dump --data <dir> --doc <name> [--prefix <p>]
                     print a document stored in <dir> as JSON lines ([key, value])
  concord salvage --data <dir> --doc <name> --out <dir>
                     copy what is good in a damaged document (one that fails with Corrupt) into
                     a new data folder, and say what was lost; <dir> is only read
  concord lab --scenario <name|file.json> [--seed N] [--modes eventual,primary,strong]
              [--nodes 3|5] [--duration 20s] [--out report.html] [--json]
                     run one workload on the three modes under the same faults, in the
                     deterministic simulator, and compare them; concord lab --help lists scenarios
  concord --version  print the version
  concord --help     print this help
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    case "--version":
    case "-v": {
      const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
      process.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    case "serve": {
      const { serve } = await import("./serve.js");
      return serve(rest);
    }
    case "worker": {
      const { worker } = await import("./worker.js");
      return worker(rest);
    }
    case "node": {
      const { node } = await import("./node.js");
      return node(rest);
    }
    case "promote": {
      const { promote } = await import("./promote.js");
      return promote(rest);
    }
    case "admin": {
      const { admin } = await import("./admin.js");
      return admin(rest);
    }
    case "lab": {
      const { lab } = await import("./lab.js");
      return lab(rest);
    }
    case "salvage": {
      const { salvage } = await import("./salvage.js");
      return salvage(parseFlags(rest, ["data", "doc", "out"]));
    }
    case "dump": {
      const { dump } = await import("./dump.js");
      return dump(parseFlags(rest, ["data", "doc", "prefix"]));
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/**
 * Exits with `code` once stdout and stderr have drained: writes to a pipe are asynchronous, and
 * `process.exit` right away would cut the output a caller reads (say, a long `concord dump`).
 */
function exitAfterOutput(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}

/** Commands with a `--help` of their own. */
const COMMANDS_WITH_HELP = new Set(["serve", "node", "promote", "admin", "lab", "worker"]);

const argv = process.argv.slice(2);
main(argv).then(exitAfterOutput, (e: unknown) => {
  if (e instanceof UsageError) {
    // The mistake and where to read more; not the whole help, which would bury the mistake.
    const command = argv[0] ?? "";
    const help = COMMANDS_WITH_HELP.has(command) ? `concord ${command} --help` : "concord --help";
    process.stderr.write(`concord: ${e.message}\n(${help} lists what it takes)\n`);
    return exitAfterOutput(2);
  }
  const err = e as { code?: string; message?: string };
  process.stderr.write(`concord: ${err.code ? `${err.code}: ` : ""}${err.message ?? String(e)}\n`);
  exitAfterOutput(1);
});
