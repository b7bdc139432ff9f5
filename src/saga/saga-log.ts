/**
 * The saga log and what it implies (pure): a saga is a sequence of steps, each with a compensation;
 * it ends either completed (every step done) or compensated (every step that may have taken effect
 * undone, in reverse order). The coordinator appends an event to the durable log after each step or
 * compensation finishes, so after a crash the log says exactly where each saga stands and
 * {@link nextAction} says what to do next:
 *
 * - a step started and not recorded done is run again (forward recovery): steps MUST be idempotent
 *   for their key (`<saga>/<step>`), since the crash may have come after it took effect;
 * - once a step failed, the saga compensates: the failed step first (it may have taken effect in
 *   part), then every done step, last to first; compensations MUST be idempotent too and tolerate
 *   "nothing to undo"; one that fails is tried again, never skipped;
 * - a saga ends exactly once, and nothing is run for it after its end.
 */
import { ConcordError } from "../errors.js";
import type { Json } from "../json.js";

/** One event of the log. `step` indexes the saga's steps from 0. */
export type SagaEvent =
  | { readonly kind: "begin"; readonly saga: string; readonly name: string; readonly steps: number; readonly input: Json }
  | { readonly kind: "done"; readonly saga: string; readonly step: number }
  | { readonly kind: "failed"; readonly saga: string; readonly step: number; readonly reason: string }
  | { readonly kind: "undone"; readonly saga: string; readonly step: number }
  | { readonly kind: "end"; readonly saga: string; readonly outcome: SagaOutcome };

export type SagaOutcome = "completed" | "compensated";

/** Where one saga stands, from its events. */
export interface SagaState {
  readonly saga: string;
  /** The definition it runs, and what it was started with. */
  readonly name: string;
  readonly input: Json;
  readonly steps: number;
  /** Steps done, in order: 0..done-1. */
  readonly done: number;
  /** The step that failed (compensation under way or finished), or null. */
  readonly failed: { readonly step: number; readonly reason: string } | null;
  /** Steps compensated so far. */
  readonly undone: ReadonlySet<number>;
  readonly outcome: SagaOutcome | null;
}

/** What the coordinator must do next for a saga. */
export type SagaAction =
  | { readonly kind: "run"; readonly step: number }
  | { readonly kind: "compensate"; readonly step: number }
  | { readonly kind: "end"; readonly outcome: SagaOutcome }
  | { readonly kind: "none" };

const bad = (why: string, event: unknown): never => {
  throw new ConcordError("Corrupt", `saga log: ${why}: ${JSON.stringify(event)}`, {});
};

/** Applies `event` to `state` (undefined before the saga's `begin`). @throws ConcordError `Corrupt` for an event the log cannot hold there. */
export function applyEvent(state: SagaState | undefined, event: SagaEvent): SagaState {
  if (event.kind === "begin") {
    if (state !== undefined) return bad("a saga begins twice", event);
    if (!Number.isSafeInteger(event.steps) || event.steps < 1) return bad("a saga needs at least one step", event);
    return { saga: event.saga, name: event.name, input: event.input, steps: event.steps, done: 0, failed: null, undone: new Set(), outcome: null };
  }
  if (state === undefined) return bad("an event of a saga that never began", event);
  if (state.outcome !== null) return bad("an event after the saga ended", event);
  switch (event.kind) {
    case "done":
      if (state.failed !== null || event.step !== state.done) return bad(`step ${event.step} done out of order (next is ${state.done})`, event);
      return { ...state, done: state.done + 1 };
    case "failed":
      if (state.failed !== null || event.step !== state.done) return bad(`step ${event.step} failed out of order (next is ${state.done})`, event);
      return { ...state, failed: { step: event.step, reason: event.reason } };
    case "undone": {
      const next = nextAction(state);
      if (next.kind !== "compensate" || next.step !== event.step) return bad(`step ${event.step} compensated out of order`, event);
      return { ...state, undone: new Set([...state.undone, event.step]) };
    }
    case "end": {
      const next = nextAction(state);
      if (next.kind !== "end" || next.outcome !== event.outcome) return bad(`the saga ends ${event.outcome} before its time`, event);
      return { ...state, outcome: event.outcome };
    }
  }
}

/** What to do next for `state` (see the module comment). */
export function nextAction(state: SagaState): SagaAction {
  if (state.outcome !== null) return { kind: "none" };
  if (state.failed === null) return state.done < state.steps ? { kind: "run", step: state.done } : { kind: "end", outcome: "completed" };
  // Compensate the failed step, then the done ones, last to first.
  for (let step = state.failed.step; step >= 0; step--) if (!state.undone.has(step)) return { kind: "compensate", step };
  return { kind: "end", outcome: "compensated" };
}

/** Every saga's state from a log's events, in order of their `begin`. */
export function replay(events: readonly SagaEvent[]): Map<string, SagaState> {
  const sagas = new Map<string, SagaState>();
  for (const e of events) sagas.set(e.saga, applyEvent(sagas.get(e.saga), e));
  return sagas;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The event as a log record. */
export function encodeEvent(event: SagaEvent): Uint8Array {
  return encoder.encode(JSON.stringify(event));
}

/** A log record as an event. @throws ConcordError `Corrupt` naming what is wrong. */
export function decodeEvent(record: Uint8Array): SagaEvent {
  let e: unknown;
  try {
    e = JSON.parse(decoder.decode(record));
  } catch {
    return bad("a record is not JSON", `${record.byteLength} bytes`);
  }
  if (typeof e !== "object" || e === null) return bad("a record is not an event", e);
  const o = e as Record<string, unknown>;
  const str = (k: string): boolean => typeof o[k] === "string" && (o[k] as string).length > 0;
  const idx = (k: string): boolean => Number.isSafeInteger(o[k]) && (o[k] as number) >= 0;
  if (!str("saga")) return bad("an event without a saga id", e);
  switch (o["kind"]) {
    case "begin":
      if (str("name") && idx("steps") && "input" in o) return e as SagaEvent;
      break;
    case "done":
    case "undone":
      if (idx("step")) return e as SagaEvent;
      break;
    case "failed":
      if (idx("step") && typeof o["reason"] === "string") return e as SagaEvent;
      break;
    case "end":
      if (o["outcome"] === "completed" || o["outcome"] === "compensated") return e as SagaEvent;
      break;
  }
  return bad("a malformed event", e);
}
