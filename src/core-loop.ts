/**
 * The effect drain every mode's driver shares (STYLE.md section 1): feed the pure core inputs
 * stamped with the clock's time, tick it on a timer, and run the driver's `pump` (carry out the
 * core's output: persist, then send, then apply) after each; nothing at all once stopped. The
 * primary's and the replica's drivers, the eventual mode's sync driver and the Raft driver run
 * their cores through it.
 */
import type { CancelTimer, Clock } from "./clock.js";

/** A core that counts time through `tick` (with the clock's time, which a core counting ticks may ignore). */
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
