/**
 * The platform clock (`src/clock.ts`) with the platform's timers faked: a timer longer than one
 * `setTimeout` holds (2^31 - 1 ms) waits in steps and never fires early; cancelling works at every
 * step.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMER_MS, systemClock } from "../src/clock.js";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("systemClock", () => {
  it("fires a short timer after its delay, not before", () => {
    const fn = vi.fn();
    systemClock.setTimer(100, fn);
    vi.advanceTimersByTime(99);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("holds a timer longer than one platform timer can, and fires it once at its time", () => {
    const fn = vi.fn();
    const ms = 3 * MAX_TIMER_MS + 1_000;
    systemClock.setTimer(ms, fn);
    vi.advanceTimersByTime(1); // a plain setTimeout of this length would have fired by now
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(ms - 2);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10 * MAX_TIMER_MS);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("cancels a long timer after it re-armed", () => {
    const fn = vi.fn();
    const cancel = systemClock.setTimer(2 * MAX_TIMER_MS, fn);
    vi.advanceTimersByTime(MAX_TIMER_MS + 5);
    cancel();
    vi.advanceTimersByTime(3 * MAX_TIMER_MS);
    expect(fn).not.toHaveBeenCalled();
  });

  it("runs a timer of 0 or less as soon as possible", () => {
    const fn = vi.fn();
    systemClock.setTimer(-5, fn);
    vi.advanceTimersByTime(0);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});
