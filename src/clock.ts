/**
 * Time as a port (STYLE.md section 2). Drivers take a {@link Clock}; the real one wraps the
 * platform timers, the simulated one (`sim/virtual-clock.ts`) is advanced by the test.
 * Pure cores never see a clock: they count ticks the driver feeds them.
 */

/** Cancels a scheduled timer. Idempotent. */
export type CancelTimer = () => void;

/** A monotonic time source with one-shot timers. */
export interface Clock {
  /** Milliseconds since an arbitrary origin. Monotonic; not wall-clock time. */
  now(): number;
  /** Runs `fn` once, `ms` milliseconds from now (0 = as soon as possible, after the current task). */
  setTimer(ms: number, fn: () => void): CancelTimer;
}

/** The platform clock: `performance.now()` and `setTimeout`. Works in Node and browsers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
};
