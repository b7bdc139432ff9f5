/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review findings (LOW): bad input that throws something other than a ConcordError (DESIGN.md section
 * 1: "Every error is a typed ConcordError with a stable code").
 *
 * 1. src/eventual/eventual-store.ts:177 `options.sync?.transport.self`: with `sync: {}` (or a
 *    transport that is undefined) the constructor dereferences `undefined.self` and openStore rejects
 *    with a TypeError, before SyncDriver's own check ("sync.transport must be a Transport",
 *    sync-driver.ts:59-61) can answer InvalidArgument.
 * 2. src/eventual/keyspace.ts:20-24 `readEntries(map, options = {})`: the default applies only to
 *    `undefined`, so `entries(null)` rejects with "Cannot read properties of null"; a non-string
 *    prefix reaches `String.prototype.startsWith`, which throws a TypeError for a RegExp.
 */
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { RangeOptions } from "../../src/store.js";

async function errorOf(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("bad input is refused with a ConcordError", () => {
  it("openStore with sync but no transport rejects with InvalidArgument", async () => {
    const e = await errorOf(() =>
      openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: {} as unknown as Parameters<typeof openStore>[0]["sync"] }),
    );
    expect(isConcordError(e, "InvalidArgument"), `got ${String(e)}`).toBe(true);
  });

  it("entries(null) and entries({ prefix: <not a string> }) answer InvalidArgument or treat them as no option", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage() });
    await store.set("a", 1);
    for (const options of [null, { prefix: /a/ }] as unknown as RangeOptions[]) {
      const e = await errorOf(() => store.entries(options));
      if (e !== undefined) expect(isConcordError(e), `entries(${String(options)}) threw ${String(e)}`).toBe(true);
      const e2 = await errorOf(() => store.entriesLocal(options));
      if (e2 !== undefined) expect(isConcordError(e2), `entriesLocal(${String(options)}) threw ${String(e2)}`).toBe(true);
    }
    await store.close();
  });
});

describe("API arguments that are not what they should be", () => {
  it("transact, subscribe and their options answer InvalidArgument, naming what is expected", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage() });
    const notAFunction = await errorOf(() => store.transact("set a=1" as never));
    expect(isConcordError(notAFunction, "InvalidArgument")).toBe(true);
    expect((notAFunction as Error).message).toMatch(/transact needs a function/);
    expect(() => store.subscribe({}, "listener" as never)).toThrow(/subscribe needs a listener function/);
    expect(() => store.subscribe("todo:" as never, () => undefined)).toThrow(/range options must be an object/);
    expect(() => store.subscribe({ prefix: 7 } as never, () => undefined)).toThrow(/prefix must be a string, got number/);
    const badPrefix = await errorOf(() => store.entries({ prefix: null } as never));
    expect(isConcordError(badPrefix, "InvalidArgument")).toBe(true);
    await store.close();
  });
});
