import { describe, expect, it } from "vitest";
import { InvariantError } from "../../src/errors.js";
import { DEFAULT_SETTLE_TURNS, VirtualClock, drainMicrotasks } from "../../src/sim/virtual-clock.js";

/** A clock whose timers append their label to `fired`. */
function recordingClock(start = 0) {
  const clock = new VirtualClock({ start });
  const fired: string[] = [];
  const at = (ms: number, label: string) => clock.setTimer(ms, () => fired.push(`${label}@${clock.now()}`));
  return { clock, fired, at };
}

/** An async chain of `hops` awaits of native promises, then `done()`. */
async function chain(hops: number, done: () => void): Promise<void> {
  for (let i = 0; i < hops; i++) await Promise.resolve();
  done();
}

describe("VirtualClock", () => {
  it("starts at `start` and only moves when driven", async () => {
    const { clock } = recordingClock(1000);
    expect(clock.now()).toBe(1000);
    await clock.advance(250);
    expect(clock.now()).toBe(1250);
    expect(await clock.step()).toBe(false);
    expect(clock.now()).toBe(1250);
  });

  it("fires in order of due time, ties in scheduling order", async () => {
    const { clock, fired, at } = recordingClock();
    at(30, "c");
    at(10, "a1");
    at(20, "b");
    at(10, "a2");
    at(0, "zero");
    await clock.advance(100);
    expect(fired).toEqual(["zero@0", "a1@10", "a2@10", "b@20", "c@30"]);
    expect(clock.now()).toBe(100);
  });

  it("treats negative and NaN delays as 0, after timers already due now", async () => {
    const { clock, fired, at } = recordingClock();
    at(0, "first");
    at(-5, "negative");
    at(Number.NaN, "nan");
    await clock.advance(0);
    expect(fired).toEqual(["first@0", "negative@0", "nan@0"]);
  });

  it("rejects an infinite delay", () => {
    const { clock } = recordingClock();
    expect(() => clock.setTimer(Number.POSITIVE_INFINITY, () => {})).toThrow(InvariantError);
  });

  it("cancels idempotently, also after firing, and counts pending timers", async () => {
    const { clock, fired, at } = recordingClock();
    const cancelA = at(5, "a");
    const cancelB = at(5, "b");
    expect(clock.pendingTimers()).toBe(2);
    cancelA();
    cancelA();
    expect(clock.pendingTimers()).toBe(1);
    await clock.advance(10);
    cancelB();
    expect(fired).toEqual(["b@5"]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("step jumps to the next timer and fires only that one", async () => {
    const { clock, fired, at } = recordingClock();
    at(7, "a");
    at(9, "b");
    expect(await clock.step()).toBe(true);
    expect(clock.now()).toBe(7);
    expect(fired).toEqual(["a@7"]);
    expect(await clock.step()).toBe(true);
    expect(await clock.step()).toBe(false);
    expect(fired).toEqual(["a@7", "b@9"]);
  });

  it("advance fires timers scheduled while advancing when due in the window, and no later ones", async () => {
    const { clock, fired, at } = recordingClock();
    const tick = () => {
      fired.push(`tick@${clock.now()}`);
      clock.setTimer(10, tick);
    };
    clock.setTimer(10, tick);
    at(25, "x");
    await clock.advance(35);
    expect(fired).toEqual(["tick@10", "tick@20", "x@25", "tick@30"]);
    expect(clock.now()).toBe(35);
    expect(clock.pendingTimers()).toBe(1);
    await clock.advance(5);
    expect(fired.at(-1)).toBe("tick@40");
  });

  it("lets a promise chain started by a timer finish before the next timer fires", async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    clock.setTimer(1, () => void chain(DEFAULT_SETTLE_TURNS - 10, () => log.push("chain done")));
    clock.setTimer(1, () => log.push("next timer"));
    await clock.advance(1);
    expect(log).toEqual(["chain done", "next timer"]);
  });

  it("settles work the caller started before looking for the first timer", async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    clock.setTimer(50, () => log.push("late"));
    void (async () => {
      await Promise.resolve();
      clock.setTimer(10, () => log.push("early"));
    })();
    await clock.step();
    expect(log).toEqual(["early"]);
  });

  it("awaits an injected settle after every fired timer", async () => {
    let settles = 0;
    const clock = new VirtualClock({ settle: () => drainMicrotasks(1).then(() => void settles++) });
    clock.setTimer(1, () => {});
    clock.setTimer(2, () => {});
    await clock.advance(5);
    expect(settles).toBe(3); // one before looking, one per timer
  });

  it("documents the reach of the default settle: deep chains beyond it are not drained", async () => {
    const clock = new VirtualClock();
    let done = false;
    clock.setTimer(1, () => void chain(DEFAULT_SETTLE_TURNS * 3, () => (done = true)));
    await clock.step();
    expect(done).toBe(false);
    await drainMicrotasks(DEFAULT_SETTLE_TURNS * 3);
    expect(done).toBe(true);
  });

  it("records and rethrows a callback's error as-is, stopping at that timer, and stays usable", async () => {
    const { clock, fired, at } = recordingClock();
    const bug = new Error("bug in a timer");
    at(1, "before");
    clock.setTimer(2, () => {
      throw bug;
    });
    at(3, "after");
    await expect(clock.advance(10)).rejects.toBe(bug);
    expect(clock.now()).toBe(2);
    expect(fired).toEqual(["before@1"]);
    expect(clock.failures()).toEqual([bug]);
    await clock.advance(10);
    expect(fired).toEqual(["before@1", "after@3"]);
    expect(clock.now()).toBe(12);
  });

  it("rethrows from step as well", async () => {
    const clock = new VirtualClock();
    const bug = new TypeError("x is undefined");
    clock.setTimer(0, () => {
      throw bug;
    });
    await expect(clock.step()).rejects.toBe(bug);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("refuses to run two drives at once", async () => {
    const clock = new VirtualClock();
    clock.setTimer(1, () => {});
    const first = clock.advance(1);
    await expect(clock.step()).rejects.toThrow(InvariantError);
    await first;
  });

  it("rejects a negative or infinite advance", async () => {
    const clock = new VirtualClock();
    await expect(clock.advance(-1)).rejects.toThrow(InvariantError);
    await expect(clock.advance(Number.POSITIVE_INFINITY)).rejects.toThrow(InvariantError);
  });

  describe("runUntil", () => {
    it("resolves true as soon as the predicate holds, without firing later timers", async () => {
      const { clock, fired, at } = recordingClock();
      let count = 0;
      for (let i = 1; i <= 5; i++) clock.setTimer(i * 10, () => void count++);
      at(100, "late");
      expect(await clock.runUntil(() => count === 3, { maxMs: 1000 })).toBe(true);
      expect(clock.now()).toBe(30);
      expect(fired).toEqual([]);
    });

    it("checks the predicate before firing anything", async () => {
      const { clock, fired, at } = recordingClock();
      at(1, "a");
      expect(await clock.runUntil(() => true, { maxSteps: 5 })).toBe(true);
      expect(fired).toEqual([]);
    });

    it("gives up after maxSteps timers", async () => {
      const { clock, fired } = recordingClock();
      const tick = () => {
        fired.push("tick");
        clock.setTimer(1, tick);
      };
      clock.setTimer(1, tick);
      expect(await clock.runUntil(() => false, { maxSteps: 4 })).toBe(false);
      expect(fired).toHaveLength(4);
    });

    it("gives up at maxMs, leaving time at the deadline and later timers pending", async () => {
      const { clock, fired, at } = recordingClock(100);
      at(10, "a");
      at(60, "b");
      expect(await clock.runUntil(() => false, { maxMs: 50 })).toBe(false);
      expect(fired).toEqual(["a@110"]);
      expect(clock.now()).toBe(150);
      expect(clock.pendingTimers()).toBe(1);
    });

    it("gives up when no timer is left", async () => {
      const { clock, at } = recordingClock();
      at(5, "a");
      expect(await clock.runUntil(() => false, { maxSteps: 100 })).toBe(false);
      expect(clock.now()).toBe(5);
    });

    it("requires a limit", async () => {
      const clock = new VirtualClock();
      await expect(clock.runUntil(() => false, {})).rejects.toThrow(InvariantError);
    });
  });
});
