/**
 * What both replication drivers do with their pure core: feed it inputs stamped with the clock's
 * time, tick it on a timer, and run the driver's `pump` (carry out the core's output) after each;
 * nothing at all once stopped.
 */
import type { CancelTimer, Clock } from "./clock.js";

/** A core that counts time through `tick`. */
export interface TickingCore {
  tick(now: number): void;
}

export class CoreLoop<C extends TickingCore> {
  readonly core: C;
  readonly #clock: Clock;
  readonly #everyMs: number;
  readonly #pump: () => void;
  #cancel: CancelTimer | undefined;
  #stopped = false;

  /** Starts ticking `core` every `everyMs` ms; `pump` runs after every input and tick. */
  constructor(core: C, clock: Clock, everyMs: number, pump: () => void) {
    this.core = core;
    this.#clock = clock;
    this.#everyMs = everyMs;
    this.#pump = pump;
    this.#schedule();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  now(): number {
    return this.#clock.now();
  }

  /** Gives the core one input at the current time, then pumps. Ignored once stopped. */
  input(fn: (core: C, now: number) => void): void {
    if (this.#stopped) return;
    fn(this.core, this.#clock.now());
    this.#pump();
  }

  /** No more ticks or inputs. Idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
  }

  #schedule(): void {
    this.#cancel = this.#clock.setTimer(this.#everyMs, () => {
      this.input((core, now) => core.tick(now));
      if (!this.#stopped) this.#schedule();
    });
  }
}
