/**
 * The trace commands: parses each command's arguments and runs it on an {@link InteractionEnv}.
 *
 * | command | does |
 * |---|---|
 * | `add-nodes N [voters=(1,2,3)] [learners=(4)] [index=K] [seed=S] [config...]` | N servers; with a membership they are founding members (bootstrap log, or a snapshot at K), else empty |
 * | `campaign ID` | election now (pre-vote first when enabled) |
 * | `propose ID DATA` | a normal entry |
 * | `propose-conf-change ID add-learner\|promote\|add-voter\|remove NODE` | one membership change |
 * | `read-index ID CTX` | a ReadIndex request |
 * | `transfer-leadership ID TO` | thesis 3.10 |
 * | `tick ID [N]`, `tick-heartbeat ID`, `tick-election ID` | logical time |
 * | `process-ready ID` | handles one Ready, printing it |
 * | `deliver-msgs ID... [type=(..)] [drop=(senders)\|drop=all]` | delivers queued messages, printing each |
 * | `stabilize [ID...]` | Readies and deliveries until quiet |
 * | `partition (1) (2,3)`, `isolate ID`, `heal` | network cuts |
 * | `crash ID`, `restart ID` | lose volatile state, keep storage |
 * | `status ID`, `raft-log ID`, `applied ID` | inspection |
 * | `compact ID INDEX` | snapshot at INDEX and compact storage |
 * | `log-level info\|none` | INFO lines on role and term changes |
 *
 * Config keys of `add-nodes`: prevote, checkquorum, electionTicks, heartbeatTicks, readOnly,
 * maxMessageBytes, maxInflightMessages, maxInflightBytes, maxUncommittedBytes,
 * snapshotChunkBytes, disableProposalForwarding.
 */
import { asNodeId, type ConfChange } from "../../../src/strong/raft/types.js";
import type { ConfigOverrides } from "../raft/cluster.js";
import type { InteractionEnv } from "./environment.js";
import type { CommandArg, TraceCommand } from "./trace-file.js";

/** Arguments of one command, consumed as they are read so leftovers can be reported. */
class Args {
  private readonly positional: string[][];
  private readonly named = new Map<string, readonly string[]>();

  constructor(
    private readonly command: string,
    args: readonly CommandArg[],
  ) {
    this.positional = args.filter((a) => a.key === null).map((a) => [...a.values]);
    for (const a of args) {
      if (a.key === null) continue;
      if (this.named.has(a.key)) throw new Error(`${command}: ${a.key}= given twice`);
      this.named.set(a.key, a.values);
    }
  }

  /** The next positional argument, a single value. */
  one(what: string): string {
    const v = this.positional.shift();
    if (v === undefined || v.length !== 1) throw new Error(`${this.command}: expected ${what}`);
    return v[0] ?? "";
  }

  /** The next positional argument if any. */
  maybeOne(what: string): string | null {
    return this.positional.length === 0 ? null : this.one(what);
  }

  /** The next positional argument as a non-negative integer. */
  int(what: string): number {
    return toInt(this.command, what, this.one(what));
  }

  /** Every remaining positional argument (each a single value). */
  rest(what: string): string[] {
    const out: string[] = [];
    while (this.positional.length > 0) out.push(this.one(what));
    return out;
  }

  /** Every remaining positional argument as a list (`(1) (2,3)`). */
  lists(): string[][] {
    return this.positional.splice(0);
  }

  /** A named argument's values, or null when absent. */
  list(key: string): readonly string[] | null {
    const v = this.named.get(key) ?? null;
    this.named.delete(key);
    return v;
  }

  /** A named single-value argument, or null when absent. */
  value(key: string): string | null {
    const v = this.list(key);
    if (v === null) return null;
    if (v.length !== 1) throw new Error(`${this.command}: ${key}= takes one value`);
    return v[0] ?? null;
  }

  /** Fails on any argument not consumed (a typo must not pass silently). */
  done(): void {
    const extra = [...this.positional.map((p) => `(${p.join(",")})`), ...[...this.named.keys()].map((k) => `${k}=`)];
    if (extra.length > 0) throw new Error(`${this.command}: unexpected argument(s) ${extra.join(" ")}`);
  }
}

function toInt(command: string, what: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new Error(`${command}: ${what} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

function toBool(command: string, key: string, v: string): boolean {
  if (v !== "true" && v !== "false") throw new Error(`${command}: ${key}= must be true or false, got "${v}"`);
  return v === "true";
}

const INT_KEYS = [
  "electionTicks",
  "heartbeatTicks",
  "maxMessageBytes",
  "maxInflightMessages",
  "maxInflightBytes",
  "maxUncommittedBytes",
  "snapshotChunkBytes",
] as const;
const BOOL_KEYS = { prevote: "preVote", checkquorum: "checkQuorum", disableProposalForwarding: "disableProposalForwarding" } as const;

function configOf(args: Args): ConfigOverrides {
  const config: Record<string, unknown> = {};
  for (const key of INT_KEYS) {
    const v = args.value(key);
    if (v !== null) config[key] = toInt("add-nodes", key, v);
  }
  for (const [key, field] of Object.entries(BOOL_KEYS)) {
    const v = args.value(key);
    if (v !== null) config[field] = toBool("add-nodes", key, v);
  }
  const readOnly = args.value("readOnly");
  if (readOnly !== null) config["readOnly"] = readOnly;
  return config as ConfigOverrides;
}

const CHANGES = ["add-learner", "promote", "add-voter", "remove"] as const;

function confChange(type: string, node: string): ConfChange {
  const t = CHANGES.find((c) => c === type);
  if (t === undefined) throw new Error(`propose-conf-change: change must be one of ${CHANGES.join(", ")}, got "${type}"`);
  return { type: t, node: asNodeId(node) };
}

type Handler = (env: InteractionEnv, args: Args) => string[];

const HANDLERS: Record<string, Handler> = {
  "log-level": (env, a) => env.setLogLevel(a.one("a level")),
  "add-nodes": (env, a) => {
    const count = a.int("a count");
    const seed = a.value("seed");
    if (seed !== null) env.seed(toInt("add-nodes", "seed", seed));
    const index = a.value("index");
    return env.addNodes(count, {
      voters: a.list("voters") ?? [],
      learners: a.list("learners") ?? [],
      index: index === null ? null : toInt("add-nodes", "index", index),
      config: configOf(a),
    });
  },
  campaign: (env, a) => env.campaign(a.one("a server id")),
  propose: (env, a) => env.propose(a.one("a server id"), a.one("the data")),
  "propose-conf-change": (env, a) => {
    const id = a.one("a server id");
    const type = a.one("a change type");
    return env.proposeConfChange(id, confChange(type, a.one("the node to change")));
  },
  "read-index": (env, a) => env.readIndex(a.one("a server id"), a.one("a context")),
  "transfer-leadership": (env, a) => env.transferLeadership(a.one("a server id"), a.one("the target id")),
  tick: (env, a) => {
    const id = a.one("a server id");
    const n = a.maybeOne("a tick count");
    return env.tick(id, n === null ? 1 : toInt("tick", "the tick count", n));
  },
  "tick-heartbeat": (env, a) => env.tickHeartbeat(a.one("a server id")),
  "tick-election": (env, a) => env.tickElection(a.one("a server id")),
  "process-ready": (env, a) => {
    const ids = a.rest("server ids");
    if (ids.length === 0) throw new Error("process-ready: expected a server id");
    if (ids.length === 1) return env.processReady(ids[0] ?? "");
    return ids.flatMap((id) => [`> ${id} handling Ready`, ...env.processReady(id).map((l) => `  ${l}`)]);
  },
  "deliver-msgs": (env, a) => {
    const drop = a.list("drop");
    const types = a.list("type");
    const filter = { types, dropFrom: drop !== null && drop.length === 1 && drop[0] === "all" ? ("all" as const) : (drop ?? []) };
    const ids = a.rest("server ids");
    if (ids.length === 0) throw new Error("deliver-msgs: expected a server id");
    if (ids.length === 1) return env.deliver(ids[0] ?? "", filter);
    return ids.flatMap((id) => [`> ${id} receiving messages`, ...env.deliver(id, filter).map((l) => `  ${l}`)]);
  },
  stabilize: (env, a) => env.stabilize(a.rest("server ids")),
  partition: (env, a) => env.partition(a.lists()),
  isolate: (env, a) => env.isolate(a.one("a server id")),
  heal: (env) => env.heal(),
  crash: (env, a) => env.crash(a.one("a server id")),
  restart: (env, a) => env.restart(a.one("a server id")),
  status: (env, a) => env.status(a.one("a server id")),
  "raft-log": (env, a) => env.raftLog(a.one("a server id")),
  applied: (env, a) => {
    const id = a.one("a server id");
    return [`[${env.appliedData(id).map((d) => JSON.stringify(d)).join(", ")}]`];
  },
  compact: (env, a) => env.compact(a.one("a server id"), a.int("an index")),
};

/** Names of every command, for error messages and documentation. */
export const COMMAND_NAMES: readonly string[] = Object.keys(HANDLERS).sort();

/**
 * Runs `command` on `env` and returns its output lines. Throws on an unknown command or bad
 * arguments (the runner adds the file and line).
 */
export function runCommand(env: InteractionEnv, command: TraceCommand): string[] {
  const handler = HANDLERS[command.name];
  if (handler === undefined) throw new Error(`unknown command "${command.name}" (known: ${COMMAND_NAMES.join(", ")})`);
  const args = new Args(command.name, command.args);
  const out = handler(env, args);
  args.done();
  return out;
}
