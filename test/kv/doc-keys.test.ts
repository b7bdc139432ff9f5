/**
 * Documents as keyspaces of one state (src/kv/doc-keys.ts): every state key of a document splits
 * back into that document and key, no document's keys fall under another's prefix, and a view of
 * one document reads only its keys, sorted as its own.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { changesByDoc, docKey, docPrefix, docView, splitDocKey } from "../../src/kv/doc-keys.js";
import { KvState } from "../../src/kv/kv-state.js";
import { checkProperty } from "../property/prop.js";

const nameArb = fc.oneof(fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 12 }), fc.string({ unit: "binary", minLength: 1, maxLength: 255 }), fc.constantFrom("1", "1:", ":", "10", "a:b", "x".repeat(255)));
const keyArb = fc.oneof(fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 8 }), fc.constantFrom("1:a", ":", "0", "__proto__"));

describe("document keys", () => {
  it("split back into their document and key, and never fall under another document's prefix", async () => {
    await checkProperty(
      fc.property(nameArb, nameArb, keyArb, (a, b, key) => {
        expect(splitDocKey(docKey(a, key))).toStrictEqual({ doc: a, key });
        if (a !== b) expect(docKey(a, key).startsWith(docPrefix(b))).toBe(false);
      }),
    );
  });

  it("leaves keys outside every document unsplit", () => {
    for (const key of ["a", "0:x", "01:ab", "3:ab", "1:a", ":a", "1234:abcd", ""]) expect(splitDocKey(key), key).toBeUndefined();
  });

  it("views one document: its keys only, without the prefix, sorted; and groups changes by document", () => {
    const state = new KvState();
    state.apply({ kind: "batch", ops: ["b", "a", "a/1"].map((k) => ({ kind: "set", key: docKey("todos", k), value: k })) });
    state.apply({ kind: "set", key: docKey("todo", "z"), value: 0 });
    state.apply({ kind: "set", key: docKey("notes", "a"), value: "note" });
    state.apply({ kind: "set", key: "outside", value: 1 });
    const todos = docView(() => state, "todos");
    expect(todos.entries("")).toStrictEqual([
      ["a", "a"],
      ["a/1", "a/1"],
      ["b", "b"],
    ]);
    expect(todos.entries("a/")).toStrictEqual([["a/1", "a/1"]]);
    expect(todos.get("z")).toBeUndefined();
    expect(docView(() => state, "todo").entries("")).toStrictEqual([["z", 0]]);
    const grouped = changesByDoc([
      { key: docKey("notes", "a"), value: 1 },
      { key: "outside", value: 2 },
      { key: docKey("todos", "b"), value: undefined },
      { key: docKey("notes", "c"), value: 3 },
    ]);
    expect([...grouped]).toStrictEqual([
      ["notes", [{ key: "a", value: 1 }, { key: "c", value: 3 }]],
      ["todos", [{ key: "b", value: undefined }]],
    ]);
  });
});
