/**
 * The storage contract suite (STYLE.md section 3): every adapter runs it through
 * {@link describeStorageContract}. Adapters under test MUST be configured with
 * {@link CONTRACT_LIMITS} so the size-related tests know the thresholds.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isConcordError, type ErrorCode } from "../../src/errors.js";
import { asDocId, type DocId } from "../../src/ids.js";
import type { DocStorage, Persistence, StoredLog } from "../../src/storage/storage.js";

/** The limits every adapter under the contract suite MUST be created with. */
export const CONTRACT_LIMITS = { compactAfterBytes: 1024, maxRecordBytes: 64 * 1024 } as const;

/** What `make` returns: a fresh, empty persistence, and how to get a second one over the same data. */
export interface StorageUnderTest {
  persistence: Persistence;
  /** A new Persistence over the same stored data (a restart). Without it, `persistence` is reused. */
  reopen?: () => Promise<Persistence>;
  cleanup?: () => Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const texts = (log: StoredLog): string[] => log.records.map((r) => dec.decode(r));
const snapText = (log: StoredLog): string | undefined => (log.snapshot === undefined ? undefined : dec.decode(log.snapshot));

async function codeOf(p: Promise<unknown>): Promise<ErrorCode | "resolved"> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    if (isConcordError(e)) return e.code;
    throw e;
  }
}

/** Registers the shared contract tests for one adapter. `make` is called before every test. */
export function describeStorageContract(name: string, make: () => Promise<StorageUnderTest>): void {
  describe(`storage contract: ${name}`, () => {
    let sut: StorageUnderTest;
    const open: DocStorage[] = [];
    const doc = asDocId("doc");

    const openDoc = async (id: DocId = doc, persistence: Persistence = sut.persistence): Promise<DocStorage> => {
      const s = await persistence.open(id);
      open.push(s);
      return s;
    };
    /** Closes `s` and opens `id` again on a restarted persistence. */
    const restart = async (s: DocStorage, id: DocId = doc): Promise<DocStorage> => {
      await s.close();
      const again = sut.reopen ? await sut.reopen() : sut.persistence;
      return openDoc(id, again);
    };

    beforeEach(async () => {
      sut = await make();
    });
    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((s) => s.close()));
      await sut.cleanup?.();
    });

    it("an unknown doc loads empty, with zero stats", async () => {
      const s = await openDoc();
      expect(await s.load()).toEqual({ snapshot: undefined, records: [] });
      expect(s.stats()).toEqual({ records: 0, recordBytes: 0, snapshotBytes: 0, pending: 0 });
      expect(s.shouldCompact()).toBe(false);
    });

    it("keeps append order, whether appends are awaited one by one or not", async () => {
      const s = await openDoc();
      for (let i = 0; i < 10; i++) await s.append(bytes(`seq-${i}`));
      const burst = Array.from({ length: 40 }, (_, i) => s.append(bytes(`burst-${i}`)));
      await Promise.all(burst);
      const expected = [...Array.from({ length: 10 }, (_, i) => `seq-${i}`), ...Array.from({ length: 40 }, (_, i) => `burst-${i}`)];
      expect(texts(await s.load())).toEqual(expected);
      expect(texts(await (await restart(s)).load())).toEqual(expected);
    });

    it("returns every acknowledged record after close and reopen, even unawaited ones close flushed", async () => {
      const s = await openDoc();
      await s.append(bytes("a"));
      await s.append(bytes("b"));
      const unawaited = s.append(bytes("c"));
      await s.close();
      await unawaited;
      const again = await restart(s);
      expect(await again.load()).toEqual({ snapshot: undefined, records: [bytes("a"), bytes("b"), bytes("c")] });
    });

    it("keeps everything across a compaction: the snapshot plus the records after it", async () => {
      const s = await openDoc();
      for (const r of ["a", "b", "c"]) await s.append(bytes(r));
      await s.compact(bytes("snap:abc"));
      await s.append(bytes("d"));
      const expectLog = async (t: DocStorage): Promise<void> => {
        const log = await t.load();
        expect(snapText(log)).toBe("snap:abc");
        expect(texts(log)).toEqual(["d"]);
      };
      await expectLog(s);
      const again = await restart(s);
      await expectLog(again);
      await again.compact(bytes("snap:abcd"));
      const third = await restart(again);
      expect(await third.load()).toEqual({ snapshot: bytes("snap:abcd"), records: [] });
    });

    it("keeps records appended before and during a compaction in their place", async () => {
      const s = await openDoc();
      const before = s.append(bytes("a"));
      const compaction = s.compact(bytes("snap:a"));
      const during = [s.append(bytes("b")), s.append(bytes("c"))];
      expect(texts(await s.load())).toEqual(["b", "c"]);
      await Promise.all([before, compaction, ...during]);
      const again = await restart(s);
      const log = await again.load();
      expect(snapText(log)).toBe("snap:a");
      expect(texts(log)).toEqual(["b", "c"]);
    });

    it("runs back-to-back compactions in order", async () => {
      const s = await openDoc();
      const all = [s.append(bytes("a")), s.compact(bytes("s1")), s.append(bytes("b")), s.compact(bytes("s2")), s.append(bytes("c"))];
      await Promise.all(all);
      const log = await (await restart(s)).load();
      expect(snapText(log)).toBe("s2");
      expect(texts(log)).toEqual(["c"]);
    });

    it("isolates documents, including names differing only by case", async () => {
      const a = await openDoc(asDocId("todos"));
      const b = await openDoc(asDocId("Todos"));
      await Promise.all([a.append(bytes("for a")), b.append(bytes("for b"))]);
      await b.compact(bytes("b's snapshot"));
      expect(await a.load()).toEqual({ snapshot: undefined, records: [bytes("for a")] });
      expect(await (await restart(b, asDocId("Todos"))).load()).toEqual({ snapshot: bytes("b's snapshot"), records: [] });
      expect(texts(await (await restart(a, asDocId("todos"))).load())).toEqual(["for a"]);
    });

    it("resolves many concurrent appends, in order", async () => {
      const s = await openDoc();
      const n = 500;
      await Promise.all(Array.from({ length: n }, (_, i) => s.append(bytes(String(i)))));
      expect(s.stats().pending).toBe(0);
      const loaded = texts(await (await restart(s)).load());
      expect(loaded).toEqual(Array.from({ length: n }, (_, i) => String(i)));
    });

    it("rejects a record or snapshot over maxRecordBytes with TooLarge, and stays usable", async () => {
      const s = await openDoc();
      const max = CONTRACT_LIMITS.maxRecordBytes;
      expect(await codeOf(s.append(new Uint8Array(max + 1)))).toBe("TooLarge");
      expect(await codeOf(s.compact(new Uint8Array(max + 1)))).toBe("TooLarge");
      await s.append(new Uint8Array(max).fill(7));
      const log = await (await restart(s)).load();
      expect(log.records).toHaveLength(1);
      expect(log.records[0]).toEqual(new Uint8Array(max).fill(7));
    });

    it("exposes maxRecordBytes: a record or snapshot of exactly that size is accepted, one byte more is TooLarge", async () => {
      const s = await openDoc();
      const max = s.maxRecordBytes;
      expect(Number.isSafeInteger(max) && max > 0, `maxRecordBytes is ${max}`).toBe(true);
      expect(max).toBe(CONTRACT_LIMITS.maxRecordBytes);
      expect(await codeOf(s.append(new Uint8Array(max + 1)))).toBe("TooLarge");
      expect(await codeOf(s.compact(new Uint8Array(max + 1)))).toBe("TooLarge");
      expect(s.stats()).toEqual({ records: 0, recordBytes: 0, snapshotBytes: 0, pending: 0 });
      expect(await codeOf(s.append(new Uint8Array(max).fill(1)))).toBe("resolved");
      expect(await codeOf(s.compact(new Uint8Array(max).fill(2)))).toBe("resolved");
      const again = await restart(s);
      expect(again.maxRecordBytes).toBe(max);
      expect(await again.load()).toEqual({ snapshot: new Uint8Array(max).fill(2), records: [] });
    });

    it("rejects every call after close with Closed; close is idempotent", async () => {
      const s = await openDoc();
      await s.append(bytes("a"));
      await s.close();
      await s.close();
      expect(await codeOf(s.append(bytes("b")))).toBe("Closed");
      expect(await codeOf(s.load())).toBe("Closed");
      expect(await codeOf(s.compact(bytes("s")))).toBe("Closed");
      expect(await codeOf(s.flush())).toBe("Closed");
    });

    it("reports stats: records and bytes since the snapshot, snapshot bytes, pending", async () => {
      const s = await openDoc();
      const appends = [s.append(new Uint8Array(10)), s.append(new Uint8Array(20))];
      expect(s.stats()).toEqual({ records: 2, recordBytes: 30, snapshotBytes: 0, pending: 2 });
      await Promise.all(appends);
      expect(s.stats().pending).toBe(0);
      await s.compact(new Uint8Array(100));
      await s.append(new Uint8Array(5));
      await s.flush();
      expect(s.stats()).toEqual({ records: 1, recordBytes: 5, snapshotBytes: 100, pending: 0 });
      expect((await restart(s)).stats()).toEqual({ records: 1, recordBytes: 5, snapshotBytes: 100, pending: 0 });
    });

    it("shouldCompact turns true at max(compactAfterBytes, snapshot bytes) of records", async () => {
      const s = await openDoc();
      const threshold = CONTRACT_LIMITS.compactAfterBytes;
      await s.append(new Uint8Array(threshold - 1));
      expect(s.shouldCompact()).toBe(false);
      await s.append(new Uint8Array(1));
      expect(s.shouldCompact()).toBe(true);
      await s.compact(new Uint8Array(3 * threshold));
      expect(s.shouldCompact()).toBe(false);
      await s.append(new Uint8Array(2 * threshold));
      expect(s.shouldCompact()).toBe(false);
      await s.append(new Uint8Array(threshold));
      expect(s.shouldCompact()).toBe(true);
    });

    it("load includes every append and compaction made before it, durable or not, while writes go on", async () => {
      const s = await openDoc();
      const all: string[] = [];
      const loads: Array<{ upTo: number; log: Promise<StoredLog> }> = [];
      const acks: Promise<void>[] = [];
      for (let i = 0; i < 30; i++) {
        all.push(`r${i}`);
        acks.push(s.append(bytes(`r${i}`))); // not awaited: loads overlap pending and in-flight writes
        if (i % 4 === 0) loads.push({ upTo: i + 1, log: s.load() });
      }
      for (const { upTo, log } of loads) {
        const got = texts(await log);
        expect(got.slice(0, upTo)).toEqual(all.slice(0, upTo)); // everything before the call...
        expect(all.slice(0, got.length)).toEqual(got); // ...and only a prefix of what came after
      }
      await Promise.all(acks);
      const compacted = s.compact(bytes("snap"));
      const after = s.append(bytes("after"));
      const log = await s.load();
      expect(snapText(log)).toBe("snap");
      expect(texts(log)).toEqual(["after"]);
      await Promise.all([compacted, after]);
      expect(s.stats()).toMatchObject({ records: 1, recordBytes: 5, snapshotBytes: 4, pending: 0 });
    });

    it("copies bytes in and out: callers can't change what is stored", async () => {
      const s = await openDoc();
      const record = bytes("original");
      const snapshot = bytes("snapshot");
      const appended = s.append(record);
      record.fill(0);
      await appended;
      const loaded = await s.load();
      loaded.records[0]!.fill(1);
      const compacted = s.compact(snapshot);
      snapshot.fill(0);
      await compacted;
      await s.append(bytes("after"));
      const first = await s.load();
      first.snapshot!.fill(2);
      first.records[0]!.fill(2);
      const log = await (await restart(s)).load();
      expect(snapText(log)).toBe("snapshot");
      expect(texts(log)).toEqual(["after"]);
    });

    it("accepts any document name: unicode, slashes, dots, percent signs", async () => {
      const names = ["日本語/📓", "a/b", "..", ".", "%2E", "a\\b", "con", " spaced ", "x".repeat(255)];
      const storages = await Promise.all(names.map((n) => openDoc(asDocId(n))));
      await Promise.all(storages.map((s, i) => s.append(bytes(`record of ${names[i]}`))));
      for (const [i, s] of storages.entries()) {
        const again = await restart(s, asDocId(names[i]!));
        expect(texts(await again.load())).toEqual([`record of ${names[i]}`]);
      }
    });

    it("rejects an empty or over-long document name with InvalidArgument", async () => {
      expect(await codeOf(sut.persistence.open(asDocId("")))).toBe("InvalidArgument");
      expect(await codeOf(sut.persistence.open(asDocId("x".repeat(256))))).toBe("InvalidArgument");
    });

    it("flush resolves once every earlier append is durable", async () => {
      const s = await openDoc();
      const appends = Array.from({ length: 5 }, (_, i) => s.append(bytes(String(i))));
      let settled = 0;
      for (const a of appends) void a.then(() => settled++);
      await s.flush();
      expect(settled).toBe(5);
      expect(s.stats().pending).toBe(0);
      await s.flush();
    });
  });
}
