/**
 * The lab's clock for runs on real processes (`concord lab --real`): the platform's time and
 * timers (`systemClock`), where the simulator's clock is driven. `advance` waits; `runUntil` looks
 * at its condition every {@link WALL_POLL_MS}, because what it waits for (a state every node
 * reports) is known only by asking the processes, which the real worlds do on their own rhythm.
 */
import { systemClock, type CancelTimer } from "../clock.js";
import type { LabClock } from "./world.js";

/** How often `runUntil` looks at its condition, ms. */
export const WALL_POLL_MS = 5;

export class WallClock implements LabClock {
  now(): number {
    return systemClock.now();
  }

  setTimer(ms: number, fn: () => void): CancelTimer {
    return systemClock.setTimer(ms, fn);
  }

  advance(ms: number): Promise<void> {
    return new Promise((resolve) => systemClock.setTimer(ms, resolve));
  }

  async runUntil(done: () => boolean, limits: { readonly maxMs: number }): Promise<boolean> {
    const deadline = this.now() + limits.maxMs;
    while (!done()) {
      if (this.now() >= deadline) return false;
      await this.advance(Math.min(WALL_POLL_MS, Math.max(0, deadline - this.now())));
    }
    return true;
  }
}
