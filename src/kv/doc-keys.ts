/**
 * Documents as keyspaces of one {@link KvState}: every document a node serves is its own keyspace,
 * kept in the one replicated state under keys prefixed by the document's name. The prefix is
 * `<length>:<doc>` (the name's length in UTF-16 code units, a colon, the name), which no other
 * document's prefix starts with, so a document's keys are exactly the state's keys under its prefix,
 * sorted as the document's own keys are. Nothing outside the engines sees these keys.
 */
import type { Json } from "../json.js";
import type { Change } from "../store.js";
import type { KvState } from "./kv-state.js";

/** The prefix of every key of `doc` in the state. */
export function docPrefix(doc: string): string {
  return `${doc.length}:${doc}`;
}

/** The state's key for `key` of `doc`. */
export function docKey(doc: string, key: string): string {
  return docPrefix(doc) + key;
}

/** The document a state key belongs to and its key there; undefined for a key outside every document. */
export function splitDocKey(stateKey: string): { readonly doc: string; readonly key: string } | undefined {
  const colon = stateKey.indexOf(":");
  if (colon <= 0 || colon > 3) return undefined;
  const digits = stateKey.slice(0, colon);
  if (!/^[1-9][0-9]*$/.test(digits)) return undefined;
  const length = Number(digits);
  const end = colon + 1 + length;
  if (end >= stateKey.length) return undefined;
  return { doc: stateKey.slice(colon + 1, end), key: stateKey.slice(end) };
}

/** The changes of `changes` (state keys) grouped by document, with the documents' own keys; keys outside every document are left out. */
export function changesByDoc(changes: readonly Change[]): Map<string, Change[]> {
  const out = new Map<string, Change[]>();
  for (const c of changes) {
    const at = splitDocKey(c.key);
    if (at === undefined) continue;
    let list = out.get(at.doc);
    if (list === undefined) out.set(at.doc, (list = []));
    list.push({ key: at.key, value: c.value });
  }
  return out;
}

/** Reads of one document of `state`. */
export interface DocView {
  get(key: string): Json | undefined;
  /** Every `[key, value]` of the document whose key starts with `prefix`, sorted by key. */
  entries(prefix: string): Array<[string, Json]>;
}

/** The view of `doc` in `state` (live: it reads the state as it is at each call). */
export function docView(state: () => KvState, doc: string): DocView {
  const prefix = docPrefix(doc);
  return {
    get: (key) => state().get(prefix + key),
    entries: (p) => state().entries(prefix + p).map(([k, v]) => [k.slice(prefix.length), v]),
  };
}
