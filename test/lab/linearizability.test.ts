/**
 * The linearizability checker (src/lab/linearizability.ts): known linearizable and known
 * non-linearizable histories, unknown outcomes, the minimal counterexample, JSON histories that do
 * not parse, and the property that every history produced by a sequential model (each operation
 * taking effect at one instant between its call and its return) is accepted.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Json } from "../../src/json.js";
import { parseHistory, type Operation, type OperationInput, type OperationOutput } from "../../src/lab/history.js";
import { checkLinearizable } from "../../src/lab/linearizability.js";
import { checkProperty } from "../property/prop.js";

const op = (client: string, input: OperationInput, output: OperationOutput, call: number, ret: number | null): Operation => ({ client, input, output, call, return: ret });
const set = (key: string, value: Json) => ({ kind: "set", key, value }) as const;
const get = (key: string) => ({ kind: "get", key }) as const;
const cas = (key: string, expect: Json | undefined, value: Json | undefined) => ({ kind: "cas", key, expect, value }) as const;
const value = (v: Json | undefined) => ({ kind: "value", value: v }) as const;
const OK = { kind: "ok" } as const;
const UNKNOWN = { kind: "unknown" } as const;
const check = (...operations: Operation[]) => checkLinearizable({ operations });

describe("linearizability checker", () => {
  it("accepts sequential and overlapping histories that have a linearization", () => {
    expect(check(op("a", set("x", 1), OK, 0, 1), op("b", get("x"), value(1), 2, 3)).verdict).toBe("ok");
    // b's read overlaps a's write: it may see either value.
    expect(check(op("a", set("x", 1), OK, 0, 10), op("b", get("x"), value(undefined), 1, 2), op("c", get("x"), value(1), 3, 4)).verdict).toBe("ok");
    // Two overlapping writes, read in an order consistent with one linearization.
    expect(check(op("a", set("x", 1), OK, 0, 10), op("b", set("x", 2), OK, 0, 10), op("c", get("x"), value(1), 11, 12)).verdict).toBe("ok");
    expect(check(op("a", cas("x", undefined, 1), { kind: "cas", succeeded: true }, 0, 1), op("b", cas("x", undefined, 2), { kind: "cas", succeeded: false }, 2, 3)).verdict).toBe("ok");
  });

  it("refuses a stale read, a lost write and two compare-and-sets that both won, with a minimal counterexample", () => {
    const stale = check(op("a", set("x", 1), OK, 0, 1), op("a", set("x", 2), OK, 2, 3), op("b", get("x"), value(1), 4, 5));
    expect(stale.verdict).toBe("violation");
    // Each needed: without the first write nobody wrote the 1 read; without the second the read is fine.
    expect(stale.counterexample!.map((o) => o.input.kind)).toStrictEqual(["set", "set", "get"]);
    const padded = check(op("c", set("x", 0), OK, -10, -9), op("a", set("x", 1), OK, 0, 1), op("d", get("x"), value(1), 1.5, 1.8), op("a", set("x", 2), OK, 2, 3), op("b", get("x"), value(1), 4, 5));
    expect(padded.counterexample!.map((o) => o.client)).toStrictEqual(["a", "a", "b"]);
    const twoWinners = check(
      op("a", cas("lock", undefined, "a"), { kind: "cas", succeeded: true }, 0, 5),
      op("b", cas("lock", undefined, "b"), { kind: "cas", succeeded: true }, 1, 6),
    );
    expect(twoWinners.verdict).toBe("violation");
    expect(twoWinners.counterexample).toHaveLength(2);
    // A compare-and-set that found the key present: the write that put it there stays in the counterexample.
    const presentAfter = check(
      op("a", set("x", 1), OK, 0, 1),
      op("b", { kind: "delete", key: "x" }, OK, 2, 3),
      op("c", cas("x", undefined, 2), { kind: "cas", succeeded: false }, 4, 5),
    );
    expect(presentAfter.counterexample!.map((o) => o.client)).toStrictEqual(["a", "b", "c"]);
    // A read of a value nobody wrote.
    expect(check(op("a", get("y"), value("ghost"), 0, 1)).verdict).toBe("violation");
    // The violation is on one key; the others are judged apart.
    const mixed = check(op("a", set("x", 1), OK, 0, 1), op("b", get("y"), value(7), 2, 3));
    expect(mixed.keys.map((k) => [k.key, k.verdict])).toStrictEqual([
      ["x", "ok"],
      ["y", "violation"],
    ]);
  });

  it("lets an operation of unknown outcome take effect at any instant after its call, or never", () => {
    // Seen by a later read: it took effect.
    expect(check(op("a", set("x", 1), UNKNOWN, 0, null), op("b", get("x"), value(1), 50, 51)).verdict).toBe("ok");
    // Not seen: it never did (or not yet).
    expect(check(op("a", set("x", 1), UNKNOWN, 0, null), op("b", get("x"), value(undefined), 50, 51)).verdict).toBe("ok");
    // But not before its call.
    expect(check(op("b", get("x"), value(1), 0, 1), op("a", set("x", 1), UNKNOWN, 5, null)).verdict).toBe("violation");
    // A read without an answer says nothing.
    expect(check(op("a", get("x"), UNKNOWN, 0, null)).verdict).toBe("ok");
    // An unknown compare-and-set may or may not have won.
    expect(check(op("a", cas("x", undefined, 1), UNKNOWN, 0, null), op("b", get("x"), value(1), 5, 6)).verdict).toBe("ok");
  });

  it("reports unknown when the search runs out of its steps", () => {
    const ops: Operation[] = [];
    for (let i = 0; i < 12; i++) ops.push(op(`c${i}`, set("x", i), OK, 0, 100));
    ops.push(op("r", get("x"), value(99), 101, 102));
    expect(checkLinearizable({ operations: ops }, { maxSteps: 50 }).verdict).toBe("unknown");
  });

  it("parses JSON histories, refusing what is not one with a message naming where", () => {
    const json = { operations: [{ client: "a", input: { kind: "set", key: "x", value: 1 }, output: { kind: "ok" }, call: 0, return: 1 }] };
    expect(checkLinearizable(parseHistory(JSON.parse(JSON.stringify(json)))).verdict).toBe("ok");
    const bad = (h: unknown, message: RegExp) => expect(() => parseHistory(h)).toThrow(expect.objectContaining({ code: "InvalidArgument", message: expect.stringMatching(message) }));
    bad({}, /must be an object \{ operations/);
    bad({ operations: [{ ...json.operations[0], input: { kind: "inc", key: "x" } }] }, /operations\[0\]\.input\.kind must be "get", "set", "delete" or "cas"/);
    bad({ operations: [{ ...json.operations[0], return: null }] }, /must have return null exactly when its output is unknown/);
    bad({ operations: [{ ...json.operations[0], return: -1 }] }, /operations\[0\]\.return must be null or a finite number not before call/);
    bad({ operations: [json.operations[0], { ...json.operations[0], call: 0.5, return: 2 }] }, /client a has overlapping operations/);
  });

  it("property: every history a sequential register produces (each operation at one instant between its call and return) is linearizable", async () => {
    const stepArb = fc.record({
      client: fc.nat(3),
      kind: fc.constantFrom("get", "set", "delete", "cas"),
      key: fc.constantFrom("x", "y"),
      value: fc.nat(3),
      expect: fc.option(fc.nat(3), { nil: undefined }),
      callGap: fc.nat(5),
      before: fc.nat(5),
      after: fc.nat(5),
      lost: fc.boolean(),
    });
    await checkProperty(
      fc.property(fc.array(stepArb, { maxLength: 40 }), (steps) => {
        const state = new Map<string, number>();
        const free = [0, 0, 0, 0]; // when each client may call again
        const operations: Operation[] = [];
        let now = 0;
        for (const s of steps) {
          now += s.callGap;
          // The operation takes effect at `at`, inside [call, return].
          const call = Math.max(now, free[s.client]!);
          const at = call + s.before;
          now = at;
          const current = state.get(s.key);
          let input: OperationInput;
          let output: OperationOutput;
          switch (s.kind) {
            case "get":
              input = get(s.key);
              output = value(current);
              break;
            case "set":
              input = set(s.key, s.value);
              output = OK;
              state.set(s.key, s.value);
              break;
            case "delete":
              input = { kind: "delete", key: s.key };
              output = OK;
              state.delete(s.key);
              break;
            default: {
              input = cas(s.key, s.expect, s.value);
              const holds = current === s.expect;
              if (holds) state.set(s.key, s.value);
              output = { kind: "cas", succeeded: holds };
            }
          }
          const unknown = s.lost && s.kind !== "get";
          const ret = unknown ? null : at + s.after;
          operations.push(op(`c${s.client}`, input, unknown ? UNKNOWN : output, call, ret));
          free[s.client] = ret ?? Number.POSITIVE_INFINITY;
        }
        expect(checkLinearizable({ operations: operations.filter((o) => Number.isFinite(o.call)) }).verdict).toBe("ok");
      }),
    );
  });
});
