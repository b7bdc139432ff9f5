/**
 * `concord promote --node ws://host:port`: asks a running replica (`concord node`) to become the
 * primary of a new epoch, over its client endpoint (`<url>/client`, an `admin` request to `promote`). Prints
 * `concord promote: <url> is now the primary of epoch <e> (from LSN <n>)` and exits 0; a refusal
 * (the node already leads, is changing role, failed) prints the node's error on stderr and exits 1,
 * as does a node that can't be reached or does not answer within --timeout-ms.
 */
import { ConcordError } from "../errors.js";
import { integerFlag, parseFlags, UsageError } from "./flags.js";
import { clientEndpoint } from "./node-request.js";
import { requestOnce } from "../client/one-request.js";

export const PROMOTE_USAGE = `Usage: concord promote --node ws://host:port [--token <admin token>] [--timeout-ms 10000]

Makes the replica at --node (a running \`concord node\`) the primary of a new epoch. The old
primary is fenced as soon as it hears of the new epoch (it then follows the new primary).

  --node <url>         the replica's base URL, as \`concord node\` printed it.
  --timeout-ms <ms>    how long to wait for the node's answer. Default 10000.
  --token <token>      an "admin" token of the node's auth file (when it has one).
`;

/** Runs `concord promote`; resolves with the exit code. */
export async function promote(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(PROMOTE_USAGE);
    return 0;
  }
  const flags = parseFlags(args, ["node", "timeout-ms", "token"]);
  const node = flags.get("node");
  if (node === undefined) throw new UsageError("concord promote needs --node <url>, the replica to promote (e.g. --node ws://127.0.0.1:5002)");
  const endpoint = clientEndpoint(node, "node");
  const timeoutMs = integerFlag(flags, "timeout-ms", 10_000, 1, 2 ** 31 - 1);
  const answer = await requestOnce(endpoint, { type: "admin", action: { type: "promote" } }, timeoutMs, flags.get("token"));
  if (answer.type === "admin-done") {
    process.stdout.write(`concord promote: ${node} is now the primary of epoch ${answer.position.epoch} (from LSN ${answer.position.lsn})\n`);
    return 0;
  }
  if (answer.type === "error") {
    process.stderr.write(`concord promote: ${node} refused: ${answer.code}: ${answer.message}\n`);
    return 1;
  }
  throw new ConcordError("Protocol", `${node} answered a promote request with ${answer.type}`);
}
