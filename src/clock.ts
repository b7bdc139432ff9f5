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

/** The longest delay one platform timer holds: `setTimeout` fires at once for anything longer. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The platform clock: `performance.now()` and `setTimeout`. Works in Node and browsers. A timer
 * longer than {@link MAX_TIMER_MS} (about 24.8 days) waits in steps, so it never fires early.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const due = performance.now() + ms;
    let handle: ReturnType<typeof setTimeout>;
    const arm = (wait: number): void => {
      handle = setTimeout(() => {
        const left = due - performance.now();
        if (left > 0 && wait === MAX_TIMER_MS) arm(Math.min(left, MAX_TIMER_MS));
        else fn();
      }, wait);
    };
    arm(Math.min(Math.max(ms, 0), MAX_TIMER_MS));
    return () => clearTimeout(handle);
  },
};
