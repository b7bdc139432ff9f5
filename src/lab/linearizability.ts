/**
 * A linearizability checker for key-value histories (`history.ts`), after Wing & Gong and Lowe, as
 * Porcupine does it: the history is split by key (a history is linearizable iff each key's is, for
 * single-key operations), then for each key a depth-first search tries to order the operations so
 * that each takes effect at one instant between its call and its return and every answer matches a
 * register going through them in that order; a cache of (operations placed, register value) cuts
 * the search where it has been before.
 *
 * An operation without an answer (`return: null`) may take effect at any instant after its call,
 * or never (it is then placed last, where it affects nothing). Reads without an answer say nothing
 * and are left out.
 *
 * When a key's history is not linearizable the checker shrinks it, dropping operations one at a
 * time while what remains is still not linearizable and every value read in it is still written by
 * an operation in it (so the contradiction is about order, not about values from nowhere), and
 * reports that minimal sub-history: every operation in it is needed for the contradiction.
 *
 * Pure: no clock, no randomness. The search is exponential in the worst case (the problem is
 * NP-complete); `maxSteps` bounds it, and a key whose search ran out is reported `unknown`.
 */
import { jsonEqual } from "../kv/kv-state.js";
import type { Json } from "../json.js";
import { keyOf, type History, type Operation } from "./history.js";

/** The verdict on one key. */
export type KeyVerdict =
  | { readonly key: string; readonly verdict: "ok"; readonly operations: number }
  | {
      readonly key: string;
      readonly verdict: "violation";
      readonly operations: number;
      /** A smallest sub-history of this key that is not linearizable (every operation in it needed). */
      readonly counterexample: readonly Operation[];
    }
  | { readonly key: string; readonly verdict: "unknown"; readonly operations: number; readonly why: string };

/** The verdict on a history. */
export interface Verdict {
  /** `ok` when every key is, `violation` when one is not, `unknown` when a search ran out of steps. */
  readonly verdict: "ok" | "violation" | "unknown";
  readonly keys: readonly KeyVerdict[];
  /** The first violation's minimal sub-history, when there is one. */
  readonly counterexample: readonly Operation[] | null;
}

export interface CheckOptions {
  /** Search steps per key before it is reported `unknown`. Default 2 000 000. */
  readonly maxSteps?: number;
  /** Search steps spent shrinking a counterexample, in all. Default 2 000 000. */
  readonly maxShrinkSteps?: number;
}

const DEFAULT_MAX_STEPS = 2_000_000;

/** Checks `history` (see the module comment). */
export function checkLinearizable(history: History, options: CheckOptions = {}): Verdict {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  const byKey = new Map<string, Operation[]>();
  for (const op of history.operations) {
    if (op.input.kind === "get" && op.output.kind === "unknown") continue;
    const key = keyOf(op);
    let list = byKey.get(key);
    if (list === undefined) byKey.set(key, (list = []));
    list.push(op);
  }
  const keys: KeyVerdict[] = [];
  let counterexample: readonly Operation[] | null = null;
  for (const key of [...byKey.keys()].sort()) {
    const ops = byKey.get(key)!;
    const result = search(ops, maxSteps);
    if (result === "ok") keys.push({ key, verdict: "ok", operations: ops.length });
    else if (result === "exhausted") keys.push({ key, verdict: "unknown", operations: ops.length, why: `the search ran out of its ${maxSteps} steps` });
    else {
      const minimal = shrink(ops, options.maxShrinkSteps ?? DEFAULT_MAX_STEPS);
      keys.push({ key, verdict: "violation", operations: ops.length, counterexample: minimal });
      counterexample ??= minimal;
    }
  }
  const verdict = keys.some((k) => k.verdict === "violation") ? "violation" : keys.some((k) => k.verdict === "unknown") ? "unknown" : "ok";
  return { verdict, keys, counterexample };
}

/** The register's value after `op` took effect on `state`, or `undefined` result `false` when `op`'s answer rules that out. */
function step(state: Json | undefined, op: Operation): { readonly ok: boolean; readonly next: Json | undefined } {
  const { input, output } = op;
  switch (input.kind) {
    case "get":
      return { ok: output.kind === "value" && same(output.value, state), next: state };
    case "set":
      return { ok: output.kind === "ok" || output.kind === "unknown", next: input.value };
    case "delete":
      return { ok: output.kind === "ok" || output.kind === "unknown", next: undefined };
    case "cas": {
      const holds = same(state, input.expect);
      if (output.kind === "unknown") return { ok: true, next: holds ? input.value : state };
      if (output.kind !== "cas") return { ok: false, next: state };
      return { ok: output.succeeded === holds, next: holds ? input.value : state };
    }
  }
}

function same(a: Json | undefined, b: Json | undefined): boolean {
  return a === undefined || b === undefined ? a === b : jsonEqual(a, b);
}

interface Event {
  readonly op: number;
  readonly kind: "call" | "return";
  readonly time: number;
  prev: Event | null;
  next: Event | null;
  /** For a call: its return event. */
  match: Event | null;
}

/**
 * Whether `ops` (one key's) can be linearized: `"ok"`, `"violation"`, or `"exhausted"` after
 * `maxSteps` steps. Lowe's search over a doubly linked list of call and return events.
 */
function search(ops: readonly Operation[], maxSteps: number): "ok" | "violation" | "exhausted" {
  const events: Event[] = [];
  ops.forEach((op, i) => {
    const call: Event = { op: i, kind: "call", time: op.call, prev: null, next: null, match: null };
    const ret: Event = { op: i, kind: "return", time: op.return ?? Number.POSITIVE_INFINITY, prev: null, next: null, match: null };
    call.match = ret;
    events.push(call, ret);
  });
  // By time; at equal times calls first (such operations overlap: the more permissive reading).
  events.sort((a, b) => a.time - b.time || (a.kind === b.kind ? a.op - b.op : a.kind === "call" ? -1 : 1));
  const head: Event = { op: -1, kind: "call", time: Number.NEGATIVE_INFINITY, prev: null, next: null, match: null };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  const linearized = new Uint8Array(ops.length);
  const seen = new Set<string>();
  const stack: { readonly event: Event; readonly state: Json | undefined }[] = [];
  let state: Json | undefined = undefined;
  let entry = head.next;
  let steps = 0;
  while (head.next !== null) {
    if (++steps > maxSteps) return "exhausted";
    if (entry === null) return "violation";
    if (entry.kind === "call") {
      const r = step(state, ops[entry.op]!);
      if (r.ok) {
        linearized[entry.op] = 1;
        const key = `${stateKey(r.next)}|${bitsKey(linearized)}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ event: entry, state });
          state = r.next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.op] = 0;
      }
      entry = entry.next;
      continue;
    }
    // A return before its call was placed: undo the last placement and try the next candidate.
    const top = stack.pop();
    if (top === undefined) return "violation";
    state = top.state;
    linearized[top.event.op] = 0;
    unlift(top.event);
    entry = top.event.next;
  }
  return "ok";
}

/** Takes a call and its return out of the list. */
function lift(call: Event): void {
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

/** Puts them back (in the reverse order of {@link lift}). */
function unlift(call: Event): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}

function stateKey(v: Json | undefined): string {
  return v === undefined ? "-" : canonical(v);
}

/** JSON with object members sorted, so equal values have equal keys. */
function canonical(v: Json): string {
  if (typeof v !== "object" || v === null) return JSON.stringify(v);
  if (Array.isArray(v)) return `[${(v as readonly Json[]).map(canonical).join(",")}]`;
  const o = v as { readonly [k: string]: Json };
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k]!)}`)
    .join(",")}}`;
}

function bitsKey(bits: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bits.length; i += 16) {
    let n = 0;
    for (let j = i; j < Math.min(i + 16, bits.length); j++) n = n * 2 + bits[j]!;
    s += String.fromCharCode(n);
  }
  return s;
}

/**
 * A smallest-by-removal sub-history of `ops` that is still not linearizable: each operation is
 * dropped when the rest stays a violation whose reads are all explained (one pass, then again until
 * nothing more can go).
 */
/**
 * True when every value a read of `ops` returned is written in `ops` (or absent), or was not
 * written anywhere in `all` either (then no sub-history can explain it, and it is the violation).
 */
function explained(ops: readonly Operation[], all: readonly Operation[]): boolean {
  const written = (list: readonly Operation[]): Array<Json | undefined> =>
    list.flatMap((o) => (o.input.kind === "set" ? [o.input.value] : o.input.kind === "cas" ? [o.input.value] : []));
  const here = written(ops);
  const anywhere = written(all);
  return ops.every((o) => {
    // A compare-and-set that found the key present, when it expected it absent: some write put it there.
    if (o.input.kind === "cas" && o.input.expect === undefined && o.output.kind === "cas" && !o.output.succeeded) {
      const others = (list: readonly Operation[]) => written(list.filter((x) => x !== o)).some((w) => w !== undefined);
      return others(ops) || !others(all);
    }
    if (o.input.kind !== "get" || o.output.kind !== "value" || o.output.value === undefined) return true;
    const v = o.output.value;
    return here.some((w) => same(w, v)) || !anywhere.some((w) => same(w, v));
  });
}

function shrink(ops: readonly Operation[], budget: number): readonly Operation[] {
  let current = [...ops];
  let spent = 0;
  const perCheck = Math.max(10_000, Math.floor(budget / Math.max(1, ops.length * 2)));
  for (let changed = true; changed && spent < budget; ) {
    changed = false;
    for (let i = 0; i < current.length && spent < budget; ) {
      const without = [...current.slice(0, i), ...current.slice(i + 1)];
      spent += perCheck;
      if (without.length > 0 && explained(without, ops) && search(without, perCheck) === "violation") {
        current = without;
        changed = true;
      } else i++;
    }
  }
  return current;
}
