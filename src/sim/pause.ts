/**
 * A process that stops and later goes on (DESIGN.md section 4, "long pause": a GC pause, a stopped
 * VM, SIGSTOP), for the simulator: a {@link PausableClock} whose timers hold while paused and fire,
 * in order, on resume, and a {@link PausableTransport} whose messages and up/down notices hold the
 * same way. A node given both (and a disk on the same clock) does nothing while paused and wakes
 * up with everything it missed in front of it, still believing what it believed: a leader that
 * slept through an election among them.
 */
import type { CancelTimer, Clock } from "../clock.js";
import type { PeerId } from "../ids.js";
import type { Transport, TransportEvents } from "../net/transport.js";

/** A pause and a resume, shared by the clock and the transports of one process. */
export class ProcessPause {
  #paused = false;
  #held: (() => void)[] = [];

  get paused(): boolean {
    return this.#paused;
  }

  pause(): void {
    this.#paused = true;
  }

  /** Goes on: what was held runs now, in the order it came (until something pauses again). */
  resume(): void {
    this.#paused = false;
    while (!this.#paused && this.#held.length > 0) this.#held.shift()!();
  }

  /** Runs `fn` now, or at resume when paused. */
  run(fn: () => void): void {
    if (this.#paused) this.#held.push(fn);
    else fn();
  }
}

/** A clock whose timers hold while its process is paused. */
export class PausableClock implements Clock {
  readonly #inner: Clock;
  readonly #pause: ProcessPause;

  constructor(inner: Clock, pause: ProcessPause) {
    this.#inner = inner;
    this.#pause = pause;
  }

  now(): number {
    return this.#inner.now();
  }

  setTimer(ms: number, fn: () => void): CancelTimer {
    let cancelled = false;
    const cancel = this.#inner.setTimer(ms, () => this.#pause.run(() => (cancelled ? undefined : fn())));
    return () => {
      cancelled = true;
      cancel();
    };
  }
}

/** A transport whose incoming events hold while its process is paused (sends go out only when it runs anyway). */
export class PausableTransport implements Transport {
  readonly #inner: Transport;
  readonly #pause: ProcessPause;

  constructor(inner: Transport, pause: ProcessPause) {
    this.#inner = inner;
    this.#pause = pause;
  }

  get self(): PeerId {
    return this.#inner.self;
  }

  listen(events: TransportEvents): void {
    this.#inner.listen({
      message: (from, bytes) => this.#pause.run(() => events.message(from, bytes)),
      up: (peer) => this.#pause.run(() => events.up(peer)),
      down: (peer) => this.#pause.run(() => events.down(peer)),
    });
  }

  send(to: PeerId, bytes: Uint8Array): void {
    this.#inner.send(to, bytes);
  }

  peers(): readonly PeerId[] {
    return this.#inner.peers();
  }

  close(): void {
    this.#inner.close();
  }
}
