/**
 * Sagas (src/saga/): the log's rules, the coordinator on real storage, and the property the lab
 * will show: whatever step fails and wherever the coordinator crashes (it is reopened on the same
 * storage and resumes), every saga ends completed with every step's effect applied once, or
 * compensated with no effect left; nothing is run after a saga's end.
 */
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { asDocId } from "../../src/ids.js";
import { SagaCoordinator, type SagaStep } from "../../src/saga/saga-coordinator.js";
import { applyEvent, decodeEvent, encodeEvent, nextAction, replay, type SagaEvent } from "../../src/saga/saga-log.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { DocStorage } from "../../src/storage/storage.js";
import { checkProperty } from "../property/prop.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const ev = (e: Record<string, unknown>): SagaEvent => ({ saga: "s", ...e }) as SagaEvent;
const begin = (steps: number): SagaEvent => ev({ kind: "begin", name: "order", steps, input: null });

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isConcordError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "accepted";
}

describe("the saga log", () => {
  it("runs the steps in order, then ends completed", () => {
    const states = [begin(2), ev({ kind: "done", step: 0 }), ev({ kind: "done", step: 1 })].reduce<ReturnType<typeof applyEvent>[]>(
      (acc, e) => [...acc, applyEvent(acc[acc.length - 1], e)],
      [],
    );
    expect(states.map(nextAction)).toEqual([
      { kind: "run", step: 0 },
      { kind: "run", step: 1 },
      { kind: "end", outcome: "completed" },
    ]);
    expect(nextAction(applyEvent(states[2], ev({ kind: "end", outcome: "completed" })))).toEqual({ kind: "none" });
  });

  it("after a failure compensates the failed step, then the done ones last to first, then ends compensated", () => {
    let s = replay([begin(4), ev({ kind: "done", step: 0 }), ev({ kind: "done", step: 1 }), ev({ kind: "failed", step: 2, reason: "no stock" })]).get("s")!;
    const order: number[] = [];
    for (let a = nextAction(s); a.kind === "compensate"; a = nextAction(s)) {
      order.push(a.step);
      s = applyEvent(s, ev({ kind: "undone", step: a.step }));
    }
    expect(order).toEqual([2, 1, 0]);
    expect(nextAction(s)).toEqual({ kind: "end", outcome: "compensated" });
    expect(s.failed).toEqual({ step: 2, reason: "no stock" });
  });

  it("refuses, as Corrupt, a log no run of sagas writes", () => {
    const s = applyEvent(undefined, begin(2));
    expect(refusal(() => applyEvent(s, begin(2)))).toMatch(/^Corrupt: saga log: a saga begins twice/);
    expect(refusal(() => applyEvent(undefined, ev({ kind: "done", step: 0 })))).toMatch(/never began/);
    expect(refusal(() => applyEvent(s, ev({ kind: "done", step: 1 })))).toMatch(/step 1 done out of order \(next is 0\)/);
    expect(refusal(() => applyEvent(s, ev({ kind: "undone", step: 0 })))).toMatch(/compensated out of order/);
    expect(refusal(() => applyEvent(s, ev({ kind: "end", outcome: "completed" })))).toMatch(/ends completed before its time/);
    expect(refusal(() => applyEvent(undefined, begin(0)))).toMatch(/at least one step/);
    const failed = applyEvent(s, ev({ kind: "failed", step: 0, reason: "x" }));
    expect(refusal(() => applyEvent(failed, ev({ kind: "done", step: 0 })))).toMatch(/out of order/);
    expect(refusal(() => applyEvent(failed, ev({ kind: "undone", step: 1 })))).toMatch(/compensated out of order/);
    const ended = applyEvent(applyEvent(failed, ev({ kind: "undone", step: 0 })), ev({ kind: "end", outcome: "compensated" }));
    expect(refusal(() => applyEvent(ended, ev({ kind: "undone", step: 0 })))).toMatch(/after the saga ended/);
  });

  it("round-trips events, and refuses malformed records as Corrupt", () => {
    for (const e of [begin(3), ev({ kind: "done", step: 1 }), ev({ kind: "failed", step: 2, reason: "r" }), ev({ kind: "undone", step: 0 }), ev({ kind: "end", outcome: "compensated" })]) {
      expect(decodeEvent(encodeEvent(e))).toEqual(e);
    }
    const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
    for (const [bytes, why] of [
      [Uint8Array.of(0xff, 0xfe), /not JSON/],
      [enc(7), /not an event/],
      [enc({ kind: "done", step: 0 }), /without a saga id/],
      [enc({ saga: "s", kind: "done", step: -1 }), /malformed/],
      [enc({ saga: "s", kind: "begin", name: "n", steps: 2 }), /malformed/],
      [enc({ saga: "s", kind: "failed", step: 1 }), /malformed/],
      [enc({ saga: "s", kind: "end", outcome: "maybe" }), /malformed/],
      [enc({ saga: "s", kind: "jump" }), /malformed/],
    ] as const) {
      expect(refusal(() => decodeEvent(bytes))).toMatch(why);
    }
  });
});

/** Effects of the "order" saga's steps, by idempotency key: what is applied now. */
class Effects {
  readonly applied = new Set<string>();
  runs = 0;
  /** Steps of a saga that fail when run (by step index). */
  failAt = new Map<string, number>();
  /** Compensations that fail this many more times before succeeding. */
  flakyUndo = 0;
  /** Step index whose run waits for `gate` (a crash happens meanwhile); `reached` resolves when it starts. */
  holdStep: number | null = null;
  gate: Promise<void> = Promise.resolve();
  reached: () => void = () => undefined;

  steps(n: number): SagaStep[] {
    return Array.from({ length: n }, (_, i) => ({
      name: `step${i}`,
      run: async (ctx) => {
        if (this.holdStep === i) {
          this.reached();
          await this.gate;
        }
        this.runs++;
        this.applied.add(ctx.key); // idempotent: a set
        if (this.failAt.get(ctx.saga) === i) throw new Error(`step ${i} of ${ctx.saga} failed`);
      },
      compensate: async (ctx) => {
        if (this.flakyUndo > 0) {
          this.flakyUndo--;
          throw new Error("the undo service is down");
        }
        this.applied.delete(ctx.key);
      },
    }));
  }

  of(saga: string): string[] {
    return [...this.applied].filter((k) => k.startsWith(`${saga}/`)).sort();
  }
}

const sagas = (e: Effects) => ({ order: e.steps(3) });

describe("the saga coordinator", () => {
  it("completes a saga, applying each step once, and records it", async () => {
    const storage = await memoryStorage().open(asDocId("sagas"));
    const e = new Effects();
    const c = await SagaCoordinator.open({ storage, sagas: sagas(e) });
    expect(await c.start("order", "o1", { item: "book" })).toBe("completed");
    expect([e.of("o1"), e.runs, c.status("o1")?.outcome, c.unfinished()]).toEqual([["o1/0", "o1/1", "o1/2"], 3, "completed", []]);
  });

  it("a failed step compensates what the saga did, the failed step included, and retries a compensation that fails", async () => {
    const storage = await memoryStorage().open(asDocId("sagas"));
    const e = new Effects();
    e.failAt.set("o2", 2);
    e.flakyUndo = 2;
    const c = await SagaCoordinator.open({ storage, sagas: sagas(e), retryMs: 1 });
    expect(await c.start("order", "o2")).toBe("compensated");
    expect(e.of("o2")).toEqual([]);
    expect(c.status("o2")?.failed).toEqual({ step: 2, reason: "step 2 of o2 failed" });
  });

  it("refuses an unknown saga, an id used twice, and bad definitions, with InvalidArgument", async () => {
    const storage = await memoryStorage().open(asDocId("sagas"));
    const c = await SagaCoordinator.open({ storage, sagas: sagas(new Effects()) });
    await c.start("order", "o1");
    await expect(c.start("refund", "o9")).rejects.toMatchObject({ code: "InvalidArgument", message: expect.stringMatching(/no saga named "refund" \(known: order\)/) });
    await expect(c.start("order", "o1")).rejects.toMatchObject({ code: "InvalidArgument", message: expect.stringMatching(/started already/) });
    await expect(c.start("order", "")).rejects.toMatchObject({ code: "InvalidArgument" });
    await expect(SagaCoordinator.open({ storage, sagas: { order: [] } })).rejects.toMatchObject({ code: "InvalidArgument" });
    await expect(SagaCoordinator.open({ storage, sagas: { order: [{ name: "x" }] as unknown as SagaStep[] } })).rejects.toMatchObject({ code: "InvalidArgument" });
  });

  it("a coordinator reopened after a crash on a file log resumes forward, re-running the step under way (applied once)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "concord-saga-"));
    dirs.push(dir);
    const e = new Effects();
    const first = await SagaCoordinator.open({ storage: await fileStorage(dir).open(asDocId("sagas")), sagas: sagas(e) });
    // Step 1 is under way when the first coordinator "crashes": it never records its end.
    let release!: () => void;
    e.holdStep = 1;
    e.gate = new Promise<void>((r) => (release = r));
    const reached = new Promise<void>((r) => (e.reached = r));
    const started = first.start("order", "o3");
    started.catch(() => undefined);
    await reached;
    first.close();
    release();
    await expect(started).rejects.toMatchObject({ code: "Closed" });
    e.holdStep = null;
    expect(e.of("o3")).toEqual(["o3/0", "o3/1"]);
    const second = await SagaCoordinator.open({ storage: await fileStorage(dir).open(asDocId("sagas")), sagas: sagas(e) });
    expect(second.unfinished()).toEqual(["o3"]);
    expect(await second.resume()).toEqual(new Map([["o3", "completed"]]));
    expect(e.of("o3")).toEqual(["o3/0", "o3/1", "o3/2"]);
  });
});

/** A storage whose appends stop for good after `crashAfter` (a coordinator that crashed), and a fresh view of what it kept. */
async function crashingStorage(inner: DocStorage, crashAfter: number): Promise<DocStorage> {
  let appended = 0;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "append") {
        return async (record: Uint8Array) => {
          if (appended++ >= crashAfter) return new Promise<void>(() => undefined); // never returns: the process is gone
          return target.append(record);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe("property: sagas under failures and coordinator crashes", () => {
  it("every saga ends completed with each step applied, or compensated with nothing left, and resumes from any crash point", async () => {
    const arb = fc.record({
      sagas: fc.array(fc.record({ steps: fc.integer({ min: 1, max: 4 }), failAt: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }), { minLength: 1, maxLength: 4 }),
      crashAfter: fc.integer({ min: 0, max: 30 }),
      flaky: fc.integer({ min: 0, max: 3 }),
    });
    await checkProperty(
      fc.asyncProperty(arb, async ({ sagas: specs, crashAfter, flaky }) => {
        const inner = await memoryStorage().open(asDocId("sagas"));
        const e = new Effects();
        e.flakyUndo = flaky;
        const defs = Object.fromEntries(specs.map((s, i) => [`saga${i}`, e.steps(s.steps)]));
        specs.forEach((s, i) => s.failAt !== undefined && s.failAt < s.steps && e.failAt.set(`id${i}`, s.failAt));
        const first = await SagaCoordinator.open({ storage: await crashingStorage(inner, crashAfter), sagas: defs, retryMs: 0 });
        const runs = specs.map((_, i) => first.start(`saga${i}`, `id${i}`));
        runs.forEach((r) => r.catch(() => undefined));
        // Give the first coordinator time to get as far as its storage lets it, then crash it.
        for (let k = 0; k < 50; k++) await new Promise<void>((r) => setImmediate(r));
        first.close();
        const second = await SagaCoordinator.open({ storage: inner, sagas: defs, retryMs: 0 });
        // Sagas the first never began (crashed before their begin was durable) start now.
        const late: Promise<unknown>[] = [];
        for (let i = 0; i < specs.length; i++) if (second.status(`id${i}`) === undefined) late.push(second.start(`saga${i}`, `id${i}`));
        await Promise.all([second.resume(), ...late]);
        for (let i = 0; i < specs.length; i++) {
          const id = `id${i}`;
          const outcome = second.status(id)?.outcome;
          const fails = e.failAt.get(id) !== undefined;
          expect([id, outcome, e.of(id)]).toEqual([id, fails ? "compensated" : "completed", fails ? [] : Array.from({ length: specs[i]!.steps }, (_, k) => `${id}/${k}`)]);
        }
      }),
    );
  });
});
