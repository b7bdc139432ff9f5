/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (LOW): writes through a `Transaction` after `fn` returned are silently dropped, and
 * an async `fn` (which TypeScript accepts for `(tx) => void`) acks a transaction that lost its writes.
 *
 * Where: src/eventual/eventual-store.ts `transact` (about line 230-256): `fn(tx)` is called and its
 * result ignored; the buffered writes are applied right away and the `tx` object stays live, so
 * `tx.set` / `tx.delete` after the first `await` (or from a callback) write into a buffer nobody reads.
 * `transact` then resolves `{ level: "local" }` for writes that never happened, and an error thrown
 * by the async `fn` after its first await becomes an unhandled rejection instead of rejecting the
 * call, contrary to Store.transact's TSDoc ("If fn throws, nothing is written and the promise rejects
 * with that error"). Expected: refuse a thenable result with `InvalidArgument` (writing nothing), and
 * make a used-up `tx` throw instead of dropping writes.
 */
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { Transaction } from "../../src/store.js";

describe("transact never acks writes it dropped", () => {
  it("an async fn: either its writes after an await are applied, or transact rejects with InvalidArgument", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage() });
    let result: string;
    try {
      await store.transact((async (tx: Transaction) => {
        tx.set("before-await", 1);
        await Promise.resolve();
        tx.set("after-await", 2);
      }) as unknown as (tx: Transaction) => void);
      result = "acked";
    } catch (e) {
      result = isConcordError(e, "InvalidArgument") ? "refused" : `rejected with ${String(e)}`;
    }
    await new Promise((r) => setTimeout(r, 0));
    if (result === "acked") expect(store.entriesLocal()).toEqual([["after-await", 2], ["before-await", 1]]);
    else expect(result).toBe("refused");
    await store.close();
  });

  it("a Transaction used after fn returned throws instead of dropping the write", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage() });
    let escaped: Transaction | undefined;
    await store.transact((tx) => {
      escaped = tx;
    });
    let threw = false;
    try {
      escaped!.set("late", 1);
    } catch {
      threw = true;
    }
    expect(threw || store.getLocal("late") === 1, "tx.set after commit was silently dropped").toBe(true);
    await store.close();
  });
});
