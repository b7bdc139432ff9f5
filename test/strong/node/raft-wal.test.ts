/**
 * The durable Raft log of a strong node (src/strong/raft-wal.ts): records of Readies and the
 * compaction snapshot recover into the Raft storage the core reads, a conflicting suffix written
 * later replaces the one before it, and a log that lost or garbled something refuses to recover
 * (`Corrupt`, naming the record) rather than start a node that forgot what it acknowledged.
 */
import { describe, expect, it } from "vitest";
import { asIndex, asNodeId, asTerm, type Entry, type HardState } from "../../../src/strong/raft/types.js";
import { encodeLogSnapshot, encodeReadyRecord, recoverRaftLog } from "../../../src/strong/raft-wal.js";

const e = (index: number, term: number, text = `${index}@${term}`): Entry => ({ kind: "normal", index: asIndex(index), term: asTerm(term), data: new TextEncoder().encode(text) });
const hs = (term: number, commit: number, vote: string | null = null): HardState => ({ term: asTerm(term), vote: vote === null ? null : asNodeId(vote), commit: asIndex(commit) });
const texts = (entries: readonly Entry[] | string) => (typeof entries === "string" ? entries : entries.map((x) => (x.kind === "normal" ? new TextDecoder().decode(x.data) : x.kind)));

describe("raft log recovery", () => {
  it("replays records in order: entries, hard states, and a conflicting suffix that replaces the old one", () => {
    const storage = recoverRaftLog({
      snapshot: undefined,
      records: [
        encodeReadyRecord({ entries: [e(1, 1), e(2, 1), e(3, 1)], hardState: hs(1, 1, "n1") }),
        encodeReadyRecord({ entries: [e(3, 2, "new 3"), e(4, 2)], hardState: null }),
        encodeReadyRecord({ entries: [], hardState: hs(2, 4, "n2") }),
      ],
    });
    expect(texts(storage.entries(asIndex(1), asIndex(5), Infinity))).toStrictEqual(["1@1", "2@1", "new 3", "4@2"]);
    expect(storage.hardState()).toStrictEqual(hs(2, 4, "n2"));
  });

  it("starts from the compaction snapshot, with the entries it kept, then the records after it", () => {
    const snapshot = encodeLogSnapshot({
      hardState: hs(3, 10),
      snapshot: { meta: { index: asIndex(8), term: asTerm(3), conf: { voters: [asNodeId("n1")], learners: [] } }, data: Uint8Array.of(1, 2, 3) },
      entries: [e(9, 3), e(10, 3)],
    });
    const storage = recoverRaftLog({ snapshot, records: [encodeReadyRecord({ entries: [e(11, 3)], hardState: hs(3, 11) })] });
    expect(storage.firstIndex()).toBe(9);
    expect(storage.snapshot().meta.index).toBe(8);
    expect(storage.snapshot().data).toStrictEqual(Uint8Array.of(1, 2, 3));
    expect(texts(storage.entries(asIndex(9), asIndex(12), Infinity))).toStrictEqual(["9@3", "10@3", "11@3"]);
    expect(storage.initialState()).toMatchObject({ hardState: hs(3, 11), confState: { voters: ["n1"] } });
  });

  it("refuses a gap, entries out of order or going back in term, a commit past the last entry, and bytes that do not decode", () => {
    const corrupt = (message: RegExp) => expect.objectContaining({ code: "Corrupt", message: expect.stringMatching(message) });
    const recover = (...records: Uint8Array[]) => () => recoverRaftLog({ snapshot: undefined, records });
    expect(recover(encodeReadyRecord({ entries: [e(1, 1)], hardState: null }), encodeReadyRecord({ entries: [e(3, 1)], hardState: null }))).toThrow(
      corrupt(/raft log: record 1 starts at index 3, leaving a gap after 1/),
    );
    expect(recover(encodeReadyRecord({ entries: [e(1, 1), e(3, 1)], hardState: null }))).toThrow(corrupt(/record 0 holds entry 3@1 after 1@1/));
    expect(recover(encodeReadyRecord({ entries: [e(1, 2), e(2, 1)], hardState: null }))).toThrow(corrupt(/record 0 holds entry 2@1 after 1@2/));
    expect(recover(encodeReadyRecord({ entries: [e(1, 2), e(2, 2)], hardState: null }), encodeReadyRecord({ entries: [e(2, 1)], hardState: null }))).toThrow(
      corrupt(/record 1 holds entry 2@1 after 1@2/),
    );
    expect(recover(encodeReadyRecord({ entries: [e(1, 1)], hardState: hs(1, 2) }))).toThrow(corrupt(/the hard state commits index 2, past the last entry 1/));
    expect(recover(encodeReadyRecord({ entries: [e(1, 1)], hardState: null }), Uint8Array.of(1, 200))).toThrow(corrupt(/record 1 does not decode/));
    expect(() => recoverRaftLog({ snapshot: Uint8Array.of(7), records: [] })).toThrow(corrupt(/the snapshot does not decode/));
  });

  it("recovers nothing from nothing: an empty storage", () => {
    const storage = recoverRaftLog({ snapshot: undefined, records: [] });
    expect(storage.lastIndex()).toBe(0);
    expect(storage.hardState()).toStrictEqual(hs(0, 0));
  });
});
