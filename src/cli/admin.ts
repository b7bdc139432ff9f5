/**
 * `concord admin --node <url> <action> [<argument>]`: changes a strong-mode cluster through any of
 * its nodes (`concord node --mode strong`), over that node's client endpoint (an `admin` request):
 *
 * - `add-learner <id>=<url>`: add a node (started with `--join`) as a learner: it receives the log
 *   but does not vote;
 * - `promote-learner <id>`: make a learner that caught up a voter;
 * - `remove <id>`: remove a member (the leader included: it hands over first);
 * - `transfer <id>`: hand leadership to a voter;
 * - `status`: print the node's status as JSON.
 *
 * One membership change at a time. Prints what happened and exits 0; a refusal prints the node's
 * error on stderr and exits 1, as does a node that can't be reached or does not answer within
 * --timeout-ms. While the node knows no leader (`Unavailable`) the action is asked again, until
 * --timeout-ms.
 */
import { ConcordError } from "../errors.js";
import type { AdminAction } from "../service/protocol.js";
import { integerFlag, parseFlags, UsageError } from "./flags.js";
import { clientEndpoint } from "./node-request.js";
import { requestOnce, type OneRequest } from "../client/one-request.js";

export const ADMIN_USAGE = `Usage: concord admin --node ws://host:port [--token <admin token>] [--timeout-ms 15000] <action> [<argument>]

Changes a strong-mode cluster through one of its nodes (the node forwards to the leader):

  add-learner <id>=<url>   add a node, started with --join, as a learner (it copies the log, does not vote)
  promote-learner <id>     make a caught-up learner a voter
  remove <id>              remove a member (a leader hands leadership over first)
  transfer <id>            hand leadership to a voter
  status                   print the node's status as JSON

One membership change at a time: add a learner, wait for it to catch up (its applied index in
/healthz), then promote it.
`;

/** Pause between two attempts while the node knows no leader, in ms. */
const RETRY_MS = 100;

/** Runs `concord admin`; resolves with the exit code. */
export async function admin(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(ADMIN_USAGE);
    return 0;
  }
  const positional: string[] = [];
  const flagArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith("--")) {
      flagArgs.push(arg, args[i + 1] ?? "");
      i++;
    } else positional.push(arg);
  }
  const flags = parseFlags(flagArgs, ["node", "timeout-ms", "token"]);
  const node = flags.get("node");
  if (node === undefined) throw new UsageError("concord admin needs --node <url>, a node of the cluster (e.g. --node ws://127.0.0.1:5001)");
  const endpoint = clientEndpoint(node, "node");
  const timeoutMs = integerFlag(flags, "timeout-ms", 15_000, 1, 2 ** 31 - 1);
  const [action, argument, ...rest] = positional;
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const request = requestOf(action, argument);
  const deadline = Date.now() + timeoutMs;
  const token = flags.get("token");
  let answer = await requestOnce(endpoint, request, timeoutMs, token);
  // No leader yet (an election under way): ask again until the time is up, as a client would.
  while (answer.type === "error" && answer.code === "Unavailable" && Date.now() + RETRY_MS < deadline) {
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    answer = await requestOnce(endpoint, request, Math.max(1, deadline - Date.now()), token);
  }
  switch (answer.type) {
    case "status":
      process.stdout.write(`${JSON.stringify(answer.status)}\n`);
      return 0;
    case "admin-done":
      process.stdout.write(`concord admin: ${action} ${argument ?? ""} done at index ${answer.position.lsn} of term ${answer.position.epoch}\n`.replace("  ", " "));
      return 0;
    case "error":
      process.stderr.write(`concord admin: ${node} refused: ${answer.code}: ${answer.message}\n`);
      return 1;
    default:
      throw new ConcordError("Protocol", `${node} answered an admin request with ${answer.type}`);
  }
}

function requestOf(action: string | undefined, argument: string | undefined): OneRequest {
  const needs = (what: string): string => {
    if (argument === undefined || argument.length === 0) throw new UsageError(`${action} needs ${what}`);
    return argument;
  };
  let a: AdminAction;
  switch (action) {
    case "status":
      if (argument !== undefined) throw new UsageError(`status takes no argument, got ${JSON.stringify(argument)}`);
      return { type: "status" };
    case "add-learner": {
      const pair = needs("<id>=<url>, the node to add and its base URL (e.g. n4=ws://127.0.0.1:5004)");
      const at = pair.indexOf("=");
      if (at <= 0 || at === pair.length - 1) throw new UsageError(`add-learner takes <id>=<url>, e.g. n4=ws://127.0.0.1:5004; got ${JSON.stringify(pair)}`);
      a = { type: "add-learner", node: pair.slice(0, at), url: pair.slice(at + 1) };
      break;
    }
    case "promote-learner":
    case "remove":
    case "transfer":
      a = { type: action, node: needs("<id>, a node of the cluster") };
      break;
    case undefined:
      throw new UsageError("concord admin needs an action: add-learner, promote-learner, remove, transfer or status");
    default:
      throw new UsageError(`unknown admin action ${JSON.stringify(action)} (known: add-learner, promote-learner, remove, transfer, status)`);
  }
  return { type: "admin", action: a };
}
