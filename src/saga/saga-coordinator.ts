/**
 * Runs sagas (see `saga-log.ts`) durably: each step's outcome and each compensation is appended to
 * a log on a {@link DocStorage} (any of Concord's storages) before the next one starts, so a
 * coordinator that crashed is reopened on the same storage and {@link SagaCoordinator.resume}s
 * every saga where it stood: forward when no step failed (the step under way is run again: steps
 * are idempotent by their key), compensating when one did. Steps may act on documents of any mode
 * (an eventual store, a primary or strong store): a step is any async function.
 *
 * Not guaranteed: isolation. Other clients see each step's effect as it happens, and a saga that
 * compensates was visible in between; a saga is atomic only in its outcome.
 */
import { systemClock, type Clock } from "../clock.js";
import { ConcordError, isConcordError } from "../errors.js";
import type { Json } from "../json.js";
import type { DocStorage } from "../storage/storage.js";
import { applyEvent, decodeEvent, encodeEvent, nextAction, replay, type SagaEvent, type SagaOutcome, type SagaState } from "./saga-log.js";

/** What a step or a compensation is told. */
export interface StepContext {
  readonly saga: string;
  readonly step: number;
  /** `<saga>/<step>`: the idempotency key of this step and of its compensation. */
  readonly key: string;
  /** What the saga was started with. */
  readonly input: Json;
}

/** One step of a saga definition. Both functions MUST be idempotent for `ctx.key`. */
export interface SagaStep {
  readonly name: string;
  /** Does the step. A rejection fails the saga, which then compensates. */
  run(ctx: StepContext): Promise<unknown>;
  /** Undoes the step (or does nothing if it never took effect). A rejection is retried. */
  compensate(ctx: StepContext): Promise<unknown>;
}

export interface SagaCoordinatorOptions {
  readonly storage: DocStorage;
  /** Saga definitions by name. */
  readonly sagas: Readonly<Record<string, readonly SagaStep[]>>;
  readonly clock?: Clock;
  /** Wait before trying a failed compensation again, ms. Default 100. */
  readonly retryMs?: number;
}

export class SagaCoordinator {
  readonly #o: SagaCoordinatorOptions;
  readonly #clock: Clock;
  readonly #states: Map<string, SagaState>;
  readonly #running = new Map<string, Promise<SagaOutcome>>();
  #closed = false;

  private constructor(o: SagaCoordinatorOptions, states: Map<string, SagaState>) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#states = states;
  }

  /** Reads the log. @throws ConcordError `Corrupt` for a log that no run of sagas writes. */
  static async open(o: SagaCoordinatorOptions): Promise<SagaCoordinator> {
    if (typeof o !== "object" || o === null || typeof o.sagas !== "object" || o.sagas === null) {
      throw new ConcordError("InvalidArgument", "SagaCoordinator.open: options { storage, sagas } are required", {});
    }
    for (const [name, steps] of Object.entries(o.sagas)) {
      if (!Array.isArray(steps) || steps.length === 0 || steps.some((s: SagaStep) => typeof s?.run !== "function" || typeof s?.compensate !== "function")) {
        throw new ConcordError("InvalidArgument", `SagaCoordinator.open: saga ${JSON.stringify(name)} must be a non-empty array of steps { name, run, compensate }`, { name });
      }
    }
    const log = await o.storage.load();
    return new SagaCoordinator(o, replay(log.records.map(decodeEvent)));
  }

  /** Where `saga` stands, if the log knows it. */
  status(saga: string): SagaState | undefined {
    return this.#states.get(saga);
  }

  /** Sagas that have not ended. */
  unfinished(): string[] {
    return [...this.#states.values()].filter((s) => s.outcome === null).map((s) => s.saga);
  }

  /**
   * Starts saga `saga` (a new id) of definition `name` with `input`; resolves with its outcome.
   * @throws ConcordError `InvalidArgument` for an unknown definition or an id already used.
   */
  async start(name: string, saga: string, input: Json = null): Promise<SagaOutcome> {
    const steps = this.#o.sagas[name];
    if (steps === undefined || !Object.hasOwn(this.#o.sagas, name)) {
      throw new ConcordError("InvalidArgument", `no saga named ${JSON.stringify(name)} (known: ${Object.keys(this.#o.sagas).join(", ")})`, { name });
    }
    if (typeof saga !== "string" || saga.length === 0) throw new ConcordError("InvalidArgument", "a saga id must be a non-empty string", {});
    if (this.#states.has(saga)) throw new ConcordError("InvalidArgument", `saga ${JSON.stringify(saga)} was started already: ids are used once`, { saga });
    await this.#append({ kind: "begin", saga, name, steps: steps.length, input });
    return this.#drive(saga);
  }

  /** Drives every saga that has not ended to its end (after a crash, from where the log says). */
  async resume(): Promise<Map<string, SagaOutcome>> {
    const ids = this.unfinished();
    const outcomes = await Promise.all(ids.map((id) => this.#drive(id)));
    return new Map(ids.map((id, i) => [id, outcomes[i]!]));
  }

  /** Stops: sagas under way stop at their next event (they resume on the next open). */
  close(): void {
    this.#closed = true;
  }

  #drive(saga: string): Promise<SagaOutcome> {
    let running = this.#running.get(saga);
    if (running === undefined) {
      running = this.#loop(saga).finally(() => this.#running.delete(saga));
      this.#running.set(saga, running);
    }
    return running;
  }

  async #loop(saga: string): Promise<SagaOutcome> {
    for (;;) {
      if (this.#closed) throw new ConcordError("Closed", `the saga coordinator was closed with saga ${saga} under way`, { saga });
      const state = this.#states.get(saga)!;
      const steps = this.#o.sagas[state.name];
      if (steps === undefined) throw new ConcordError("InvalidArgument", `saga ${saga} runs ${JSON.stringify(state.name)}, which this coordinator does not define`, { saga });
      const action = nextAction(state);
      const ctx = (step: number): StepContext => ({ saga, step, key: `${saga}/${step}`, input: state.input });
      switch (action.kind) {
        case "none":
          return state.outcome!;
        case "end":
          await this.#append({ kind: "end", saga, outcome: action.outcome });
          return action.outcome;
        case "run":
          try {
            await steps[action.step]!.run(ctx(action.step));
          } catch (e) {
            await this.#append({ kind: "failed", saga, step: action.step, reason: e instanceof Error ? e.message : String(e) });
            continue;
          }
          await this.#append({ kind: "done", saga, step: action.step });
          continue;
        case "compensate":
          try {
            await steps[action.step]!.compensate(ctx(action.step));
          } catch (e) {
            if (isConcordError(e, "Closed")) throw e;
            await new Promise<void>((r) => this.#clock.setTimer(this.#o.retryMs ?? 100, r));
            continue;
          }
          await this.#append({ kind: "undone", saga, step: action.step });
          continue;
      }
    }
  }

  async #append(event: SagaEvent): Promise<void> {
    if (this.#closed) throw new ConcordError("Closed", `the saga coordinator was closed with saga ${event.saga} under way`, { saga: event.saga });
    const next = applyEvent(this.#states.get(event.saga), event);
    await this.#o.storage.append(encodeEvent(event));
    this.#states.set(event.saga, next);
  }
}
