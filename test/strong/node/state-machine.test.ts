/**
 * The state machine of strong mode (src/strong/state-machine.ts, sessions.ts, commands.ts): writes
 * with conditions, documents as keyspaces, client sessions (a retry answered with the first
 * outcome, acknowledged answers forgotten, expiry of the least recently used, a stale retry
 * refused), entries that are not commands, and snapshots that give back an equal state machine.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { docView } from "../../../src/kv/doc-keys.js";
import type { WireSession, WriteCondition, WriteOp } from "../../../src/service/protocol.js";
import { decodeCommand, encodeCommand, type StrongCommand } from "../../../src/strong/commands.js";
import { asIndex, asTerm, type Entry } from "../../../src/strong/raft/types.js";
import { SessionTable } from "../../../src/strong/sessions.js";
import { StrongStateMachine, type AppliedEntry } from "../../../src/strong/state-machine.js";
import { jsonArb } from "../../property/json-arb.js";
import { checkProperty } from "../../property/prop.js";

const tag = { proposer: 7, n: 1 };
let index = 0;
const entryOf = (c: StrongCommand, term = 1): Entry => ({ kind: "normal", term: asTerm(term), index: asIndex(++index), data: encodeCommand(c) });
const write = (doc: string, ops: WriteOp[], conditions: WriteCondition[] = [], session: WireSession | null = null): StrongCommand => ({ kind: "write", tag, doc, conditions, ops, session });
const set = (key: string, value: number): WriteOp => ({ kind: "set", key, value });

function machine(maxSessions?: number): { sm: StrongStateMachine; apply: (c: StrongCommand) => AppliedEntry } {
  index = 0;
  const sm = new StrongStateMachine(undefined, new SessionTable(maxSessions));
  return { sm, apply: (c) => sm.apply(entryOf(c)) };
}

describe("strong state machine", () => {
  it("applies a write's ops when every condition holds, and changes nothing otherwise; documents are keyspaces", () => {
    const { sm, apply } = machine();
    expect(apply(write("d", [set("a", 1)]))).toMatchObject({ kind: "write", doc: "d", answer: { index: 1, term: 1, succeeded: true }, changes: [{ key: "a", value: 1 }] });
    expect(apply(write("d", [set("b", 2)], [{ test: "absent", key: "a" }]))).toMatchObject({ answer: { succeeded: false }, changes: [] });
    expect(apply(write("d", [set("b", 2)], [{ test: "present", key: "a" }, { test: "equals", key: "a", value: 1 }, { test: "absent", key: "b" }]))).toMatchObject({
      answer: { succeeded: true },
      changes: [{ key: "b", value: 2 }],
    });
    expect(apply(write("d", [set("a", 9)], [{ test: "equals", key: "a", value: 2 }]))).toMatchObject({ answer: { succeeded: false } });
    expect(apply(write("e", [set("a", 5)], [{ test: "absent", key: "a" }]))).toMatchObject({ answer: { succeeded: true } });
    expect(docView(() => sm.state, "d").entries("")).toStrictEqual([
      ["a", 1],
      ["b", 2],
    ]);
    expect(docView(() => sm.state, "e").entries("")).toStrictEqual([["a", 5]]);
    expect(sm.index).toBe(5);
  });

  it("applies a session's write once: a retry is answered with the first outcome and changes nothing", () => {
    const { sm, apply } = machine();
    const opened = apply({ kind: "open-session", tag });
    expect(opened).toStrictEqual({ kind: "session-opened", tag, session: 1 });
    const first = apply(write("d", [set("n", 1)], [], { id: 1, seq: 1, firstUnacked: 1 }));
    const again = apply(write("d", [set("n", 1)], [], { id: 1, seq: 1, firstUnacked: 1 }));
    expect(first).toMatchObject({ answer: { index: 2, succeeded: true }, changes: [{ key: "n", value: 1 }] });
    expect(again).toMatchObject({ kind: "write", answer: { index: 2, succeeded: true }, changes: [] });
    // Seq 2 applies; then the client acknowledged 1 and 2 (firstUnacked 3): a late copy of 1 is refused, never applied.
    apply(write("d", [set("n", 2)], [], { id: 1, seq: 2, firstUnacked: 1 }));
    apply(write("d", [set("m", 3)], [], { id: 1, seq: 3, firstUnacked: 3 }));
    const stale = apply(write("d", [set("n", 1)], [], { id: 1, seq: 1, firstUnacked: 1 }));
    expect(stale).toMatchObject({ kind: "refused", error: { code: "SessionExpired", message: expect.stringMatching(/stale retry/) } });
    expect(docView(() => sm.state, "d").get("n")).toBe(2);
    expect(sm.sessions.entries()[0]![1].answers.size).toBe(1);
  });

  it("expires the least recently used session when full, refuses its writes, and closes sessions on request", () => {
    const { sm, apply } = machine(2);
    apply({ kind: "open-session", tag }); // session 1
    apply({ kind: "open-session", tag }); // session 2
    apply(write("d", [set("a", 1)], [], { id: 1, seq: 1, firstUnacked: 1 })); // 1 is now the more recent
    apply({ kind: "open-session", tag }); // session 4 expires 2
    expect(sm.sessions.entries().map(([id]) => id)).toStrictEqual([1, 4]);
    expect(apply(write("d", [set("b", 1)], [], { id: 2, seq: 1, firstUnacked: 1 }))).toMatchObject({ kind: "refused", error: { code: "SessionExpired" } });
    expect(apply({ kind: "close-session", tag, session: 1 })).toStrictEqual({ kind: "session-closed", tag });
    expect(apply(write("d", [set("c", 1)], [], { id: 1, seq: 2, firstUnacked: 2 }))).toMatchObject({ kind: "refused" });
    expect(docView(() => sm.state, "d").entries("")).toStrictEqual([["a", 1]]);
  });

  it("steps over noop, membership and undecodable entries alike on every server, and refuses entries out of order", () => {
    const { sm } = machine();
    expect(sm.apply({ kind: "noop", term: asTerm(1), index: asIndex(1) })).toStrictEqual({ kind: "none", invalid: null });
    expect(sm.apply({ kind: "normal", term: asTerm(1), index: asIndex(2), data: Uint8Array.of(9, 9) })).toMatchObject({ kind: "none", invalid: expect.stringMatching(/version is 9/) });
    expect(() => sm.apply({ kind: "noop", term: asTerm(1), index: asIndex(4) })).toThrow(expect.objectContaining({ code: "Corrupt", message: expect.stringMatching(/applied entry 2 and is handed entry 4/) }));
    expect(sm.index).toBe(2);
  });

  const opArb: fc.Arbitrary<WriteOp> = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), key: fc.constantFrom("a", "b", "c"), value: jsonArb(2, 2) }),
    fc.record({ kind: fc.constant("delete" as const), key: fc.constantFrom("a", "b", "c") }),
  );
  const conditionArb: fc.Arbitrary<WriteCondition> = fc.oneof(
    fc.record({ test: fc.constantFrom("absent" as const, "present" as const), key: fc.constantFrom("a", "b") }),
    fc.record({ test: fc.constant("equals" as const), key: fc.constantFrom("a", "b"), value: jsonArb(1, 2) }),
  );
  const commandArb: fc.Arbitrary<StrongCommand> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("write" as const), tag: fc.constant(tag), doc: fc.constantFrom("d", "e"), conditions: fc.array(conditionArb, { maxLength: 2 }), ops: fc.array(opArb, { maxLength: 3 }), session: fc.option(fc.record({ id: fc.nat(12), seq: fc.integer({ min: 1, max: 4 }), firstUnacked: fc.integer({ min: 1, max: 4 }) }), { nil: null }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "open-session" as const, tag }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("close-session" as const), tag: fc.constant(tag), session: fc.nat(12) }) },
  );

  it("property: commands round-trip through their codec, and a snapshot taken anywhere gives a state machine that goes on exactly alike", async () => {
    await checkProperty(
      fc.property(fc.array(commandArb, { maxLength: 30 }), fc.nat(30), (commands, cut) => {
        for (const c of commands) expect(decodeCommand(encodeCommand(c))).toEqual(c);
        const { sm } = machine(3);
        const entries = commands.map((c) => entryOf(c));
        const at = Math.min(cut, entries.length);
        entries.slice(0, at).forEach((e) => sm.apply(e));
        const copy = StrongStateMachine.decode(sm.encode(), 3);
        expect(copy.encode()).toStrictEqual(sm.encode());
        for (const e of entries.slice(at)) expect(copy.apply(e)).toStrictEqual(sm.apply(e));
        expect(copy.encode()).toStrictEqual(sm.encode());
        expect(copy.state.equals(sm.state)).toBe(true);
      }),
    );
  });
});
