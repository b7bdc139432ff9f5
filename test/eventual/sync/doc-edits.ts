/**
 * Random Yjs document edits for the sync property tests: fast-check arbitraries, a function that
 * applies them, and a comparable snapshot of a document's content. Covers every Yjs content kind a
 * real app produces (strings, formats, embeds, any-values, binary, nested types, XML, subdocuments),
 * so the codec and update checks meet them all.
 */
import fc from "fast-check";
import * as Y from "yjs";

/**
 * A JSON value as it comes back from a JSON round trip (no -0), without `"__proto__"` keys: Yjs
 * decodes such a key as the object's prototype, so no document can hold one faithfully (the store
 * refuses them, see json.ts).
 */
export const jsonArb: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 2, stringUnit: "grapheme" }).map(storableJson);

/** `v` through a JSON round trip, its `"__proto__"` keys dropped (see {@link jsonArb}). */
export function storableJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v), (key, value: unknown) => (key === "__proto__" ? undefined : value)) as unknown;
}

/** One edit; positions are reduced modulo the current length when applied. */
export type DocEdit =
  | { readonly kind: "map-set"; readonly key: string; readonly value: unknown }
  | { readonly kind: "map-set-binary"; readonly key: string; readonly bytes: Uint8Array }
  | { readonly kind: "map-set-map"; readonly key: string; readonly inner: string }
  | { readonly kind: "map-set-subdoc"; readonly key: string; readonly guid: string }
  | { readonly kind: "map-delete"; readonly key: string }
  | { readonly kind: "text-insert"; readonly at: number; readonly text: string; readonly bold: boolean }
  | { readonly kind: "text-embed"; readonly at: number; readonly embed: { readonly n: number } }
  | { readonly kind: "text-format"; readonly at: number; readonly length: number; readonly bold: boolean }
  | { readonly kind: "text-delete"; readonly at: number; readonly length: number }
  | { readonly kind: "array-insert"; readonly at: number; readonly values: readonly unknown[] }
  | { readonly kind: "array-insert-text"; readonly at: number; readonly text: string }
  | { readonly kind: "array-delete"; readonly at: number; readonly length: number }
  | { readonly kind: "xml-insert"; readonly at: number; readonly tag: string; readonly text: string };

const key = fc.constantFrom("a", "b", "c", "d", "e");
const at = fc.nat({ max: 1000 });
const short = fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 });
/**
 * Text for positional edits stays in the Basic Multilingual Plane: Yjs counts positions in UTF-16
 * units, and an edit that splits a surrogate pair turns it into U+FFFD differently depending on
 * integration order (a Yjs limitation an app avoids by editing at character boundaries).
 */
const bmpText = fc.string({ unit: fc.integer({ min: 0x20, max: 0xd7ff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 6 });

/** Arbitrary edits, weighted towards the common ones. */
export const docEditArb: fc.Arbitrary<DocEdit> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("map-set" as const), key, value: jsonArb }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant("map-set-binary" as const), key, bytes: fc.uint8Array({ maxLength: 8 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("map-set-map" as const), key, inner: short }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("map-set-subdoc" as const), key, guid: fc.string({ minLength: 1, maxLength: 8 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("map-delete" as const), key }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("text-insert" as const), at, text: bmpText, bold: fc.boolean() }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant("text-embed" as const), at, embed: fc.record({ n: fc.integer() }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("text-format" as const), at, length: fc.integer({ min: 1, max: 5 }), bold: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("text-delete" as const), at, length: fc.integer({ min: 1, max: 5 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("array-insert" as const), at, values: fc.array(jsonArb, { minLength: 1, maxLength: 3 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("array-insert-text" as const), at, text: bmpText }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("array-delete" as const), at, length: fc.integer({ min: 1, max: 3 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("xml-insert" as const), at, tag: fc.constantFrom("p", "h1", "li"), text: bmpText }), weight: 1 },
);

/** Applies `edit` to `doc` in one transaction (a no-op when it does not apply, e.g. delete from empty). */
export function applyEdit(doc: Y.Doc, edit: DocEdit): void {
  const map = doc.getMap("m");
  const text = doc.getText("t");
  const array = doc.getArray("a");
  doc.transact(() => {
    switch (edit.kind) {
      case "map-set":
        map.set(edit.key, edit.value);
        return;
      case "map-set-binary":
        map.set(edit.key, edit.bytes);
        return;
      case "map-set-map": {
        const inner = new Y.Map<string>();
        inner.set("v", edit.inner);
        map.set(edit.key, inner);
        return;
      }
      case "map-set-subdoc":
        map.set(edit.key, new Y.Doc({ guid: edit.guid }));
        return;
      case "map-delete":
        map.delete(edit.key);
        return;
      case "text-insert":
        text.insert(edit.at % (text.length + 1), edit.text, edit.bold ? { bold: true } : {});
        return;
      case "text-embed":
        text.insertEmbed(edit.at % (text.length + 1), { ...edit.embed });
        return;
      case "text-format":
        if (text.length > 0) text.format(edit.at % text.length, edit.length, { bold: edit.bold ? true : null });
        return;
      case "text-delete":
        if (text.length > 0) {
          const from = edit.at % text.length;
          text.delete(from, Math.min(edit.length, text.length - from));
        }
        return;
      case "array-insert":
        array.insert(edit.at % (array.length + 1), [...edit.values]);
        return;
      case "array-insert-text":
        array.insert(edit.at % (array.length + 1), [new Y.Text(edit.text)]);
        return;
      case "array-delete":
        if (array.length > 0) {
          const from = edit.at % array.length;
          array.delete(from, Math.min(edit.length, array.length - from));
        }
        return;
      case "xml-insert": {
        const fragment = doc.getXmlFragment("x");
        const element = new Y.XmlElement(edit.tag);
        element.setAttribute("data-n", String(edit.at));
        element.insert(0, [new Y.XmlText(edit.text)]);
        fragment.insert(edit.at % (fragment.length + 1), [element]);
        return;
      }
    }
  });
}

/** A fresh doc with a fixed client id (so runs replay exactly) and `edits` applied. */
export function docWithEdits(clientId: number, edits: readonly DocEdit[]): Y.Doc {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  for (const edit of edits) applyEdit(doc, edit);
  return doc;
}

/** Arbitrary docs built from up to `maxEdits` edits by one client. */
export const docArb = (maxEdits = 12): fc.Arbitrary<Y.Doc> =>
  fc
    .record({ clientId: fc.integer({ min: 1, max: 2 ** 32 - 1 }), edits: fc.array(docEditArb, { maxLength: maxEdits }) })
    .map(({ clientId, edits }) => docWithEdits(clientId, edits));

/** Everything an app can see in a doc built by {@link applyEdit}, as plain comparable data. */
export function docContent(doc: Y.Doc): unknown {
  const map: Record<string, unknown> = {};
  for (const [k, v] of doc.getMap("m").entries()) {
    map[k] = v instanceof Y.Doc ? { subdoc: v.guid } : v instanceof Y.AbstractType ? v.toJSON() : v;
  }
  return {
    map,
    text: doc.getText("t").toDelta(),
    array: doc.getArray("a").toJSON(),
    xml: doc.getXmlFragment("x").toString(),
  };
}

/** One step of a multi-replica history. */
export type HistoryStep =
  | { readonly kind: "edit"; readonly doc: number; readonly edit: DocEdit }
  /** `to` pulls everything it lacks from `from` (a sync step 1/2 exchange). */
  | { readonly kind: "sync"; readonly from: number; readonly to: number }
  /** `to` receives only the last update `from` emitted, possibly without its dependencies. */
  | { readonly kind: "forward-last"; readonly from: number; readonly to: number };

/** Replicas after a history, and every update any of them emitted (local edits and integrations). */
export interface History {
  readonly docs: readonly Y.Doc[];
  readonly updates: readonly Uint8Array[];
}

/** Arbitrary histories over `docCount` replicas (indices are reduced modulo the count). */
export const historyStepArb: fc.Arbitrary<HistoryStep> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("edit" as const), doc: fc.nat(3), edit: docEditArb }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant("sync" as const), from: fc.nat(3), to: fc.nat(3) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("forward-last" as const), from: fc.nat(3), to: fc.nat(3) }), weight: 1 },
);

/** Runs `steps` over `docCount` fresh replicas with client ids 1..docCount. */
export function runHistory(docCount: number, steps: readonly HistoryStep[]): History {
  const docs = Array.from({ length: docCount }, (_, i) => {
    const doc = new Y.Doc();
    doc.clientID = i + 1;
    return doc;
  });
  const updates: Uint8Array[] = [];
  const lastOf = new Map<number, Uint8Array>();
  docs.forEach((doc, i) =>
    doc.on("update", (update: Uint8Array) => {
      updates.push(update);
      lastOf.set(i, update);
    }),
  );
  for (const step of steps) {
    if (step.kind === "edit") {
      applyEdit(docs[step.doc % docCount]!, step.edit);
      continue;
    }
    const from = step.from % docCount;
    const to = docs[step.to % docCount]!;
    if (step.kind === "sync") Y.applyUpdate(to, Y.encodeStateAsUpdate(docs[from]!, Y.encodeStateVector(to)));
    else {
      const last = lastOf.get(from);
      if (last !== undefined) Y.applyUpdate(to, last);
    }
  }
  return { docs, updates };
}
