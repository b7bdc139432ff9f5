/**
 * The writes of the key-value state machine ({@link KvOp}) and their binary codec. The same ops
 * are the records `primary` mode replicates and (later) the entries `strong` mode commits;
 * `KvState` (kv-state.ts) applies them.
 *
 * An op is `u8 version (1)`, then `write` or a batch:
 *
 * | tag | kind | body |
 * |---|---|---|
 * | 1 | set | `string key`, `json value` |
 * | 2 | delete | `string key` |
 * | 3 | batch | `list<write>` (each a `u8` tag 1 or 2 and its body; batches do not nest) |
 *
 * `string` and `list` are the shared primitives (`src/codec/primitives.ts`), `json` the canonical
 * binary JSON of `src/codec/json-value.ts`. A key is a non-empty string. The format is canonical:
 * a decoded op re-encodes to the very bytes it came from. Any layout change MUST bump
 * {@link KV_CODEC_VERSION} (the golden bytes of test/kv/ops.test.ts fail on an accidental one).
 */
import { readJson, writeJson } from "../codec/json-value.js";
import { decodeVersioned, encodeVersioned, tagLookup, type BinaryFormat, type DecodeLimits, type Reader, type Writer } from "../codec/primitives.js";
import { ConcordError, assertNever } from "../errors.js";
import { checkKey, toFrozenJson, type Json } from "../json.js";

/** Writes `value` under `key`. */
export interface SetOp {
  readonly kind: "set";
  readonly key: string;
  readonly value: Json;
}

/** Removes `key` (a no-op when it is absent). */
export interface DeleteOp {
  readonly kind: "delete";
  readonly key: string;
}

/** One write of a batch. */
export type KvWrite = SetOp | DeleteOp;

/** Writes applied together, in order, atomically (one transaction). May be empty. */
export interface BatchOp {
  readonly kind: "batch";
  readonly ops: readonly KvWrite[];
}

export type KvOp = KvWrite | BatchOp;

/** The version of the kv formats (ops and snapshots) this code writes, and the only one it reads. */
export const KV_CODEC_VERSION = 1;

/** The kv ops and snapshot format, for `encodeVersioned` / `decodeVersioned`. */
export const KV_FORMAT: BinaryFormat = { name: "kv codec", version: KV_CODEC_VERSION, idName: "id" };

/** Wire tag of each op kind (compile-time exhaustive). */
export const KV_OP_TAGS: { readonly [K in KvOp["kind"]]: number } = { set: 1, delete: 2, batch: 3 };
const KV_OP_BY_TAG = tagLookup(KV_OP_TAGS);

/**
 * `value` as a kv op or `KvState` may keep it: deep-frozen JSON that nobody else can mutate. An
 * object or array that is already frozen is taken as what `toFrozenJson` or {@link decodeOp}
 * returned (deep-frozen and validated; NOT re-checked); anything else goes through `toFrozenJson`,
 * which returns a validated deep-frozen copy or throws `InvalidValue` naming `what`.
 */
export function frozenValue(value: Json, what: string): Json {
  if (typeof value === "object" && value !== null && Object.isFrozen(value)) return value;
  return toFrozenJson(value, what);
}

/**
 * The writes of `op` in order (one for a set or delete, a batch's own), checked and owned: keys
 * pass `checkKey`, values are {@link frozenValue}s. Throws `InvalidValue` for a bad key or value,
 * `InvalidArgument` for a batch inside a batch, before anything is applied.
 */
export function checkedWrites(op: KvOp): KvWrite[] {
  const writes = op.kind === "batch" ? op.ops : [op];
  return writes.map((write, i) => {
    const field = op.kind === "batch" ? `batch.ops[${i}]` : op.kind;
    switch (write.kind) {
      case "set":
        checkKey(write.key);
        return { kind: "set", key: write.key, value: frozenValue(write.value, `${field}.value`) };
      case "delete":
        checkKey(write.key);
        return write;
      default:
        return notAWrite(write, field);
    }
  });
}

function notAWrite(op: never, field: string): never {
  const kind = (op as { kind?: unknown }).kind;
  throw new ConcordError("InvalidArgument", `kv op: ${field} is a ${String(kind)} op, but a batch holds only set and delete ops`, { field });
}

/**
 * Encodes `op` into a fresh buffer; {@link decodeOp} returns an op deep-equal to it (object members
 * come back sorted by key). Throws `InvalidValue` for an empty or ill-formed key or a value that is
 * not JSON (checked as {@link frozenValue} does), `InvalidArgument` for a batch inside a batch.
 */
export function encodeOp(op: KvOp): Uint8Array {
  return encodeVersioned(KV_FORMAT, (w) => {
    switch (op.kind) {
      case "set":
      case "delete":
        writeWrite(w, op, op.kind);
        return;
      case "batch":
        w.tag(KV_OP_TAGS.batch);
        w.count(op.ops.length, "batch.ops");
        op.ops.forEach((write, i) => writeWrite(w, write, `batch.ops[${i}]`));
        return;
      default:
        assertNever(op, "kv op");
    }
  });
}

function writeWrite(w: Writer, op: KvWrite, field: string): void {
  switch (op.kind) {
    case "set":
      w.tag(KV_OP_TAGS.set);
      writeKey(w, op.key, `${field}.key`);
      writeJson(w, frozenValue(op.value, `${field}.value`), `${field}.value`);
      return;
    case "delete":
      w.tag(KV_OP_TAGS.delete);
      writeKey(w, op.key, `${field}.key`);
      return;
    default:
      notAWrite(op, field);
  }
}

/**
 * Decodes one op. Throws ONLY a `ConcordError`: `TooLarge` when `bytes` is longer than
 * `limits.maxBytes`; otherwise `Protocol`, naming the field and byte offset, for a version other
 * than 1, an unknown kind tag (a batch inside a batch included), truncation, trailing bytes, an
 * empty key, invalid UTF-8, and anything non-canonical in a value (see `src/codec/json-value.ts`).
 * Values are deep-frozen and fresh: they never alias `bytes`.
 */
export function decodeOp(bytes: Uint8Array, limits?: DecodeLimits): KvOp {
  return decodeVersioned(KV_FORMAT, "kv op", bytes, limits, (r): KvOp => {
    const at = r.offset;
    const tag = r.u8("kind");
    const kind = KV_OP_BY_TAG.get(tag);
    switch (kind) {
      case "set":
      case "delete":
        return readWrite(r, kind, kind);
      case "batch": {
        const count = r.count("batch.ops");
        const ops: KvWrite[] = [];
        for (let i = 0; i < count; i++) {
          const field = `batch.ops[${i}]`;
          const opAt = r.offset;
          const opTag = r.u8(`${field}.kind`);
          const opKind = KV_OP_BY_TAG.get(opTag);
          if (opKind !== "set" && opKind !== "delete") {
            return r.fail(`${field}.kind`, `has the tag ${opTag}, but a batch holds only set (1) and delete (2) ops`, opAt);
          }
          ops.push(readWrite(r, opKind, field));
        }
        return { kind, ops };
      }
      case undefined:
        return r.fail("kind", `has the unknown tag ${tag} (known: 1 to ${KV_OP_BY_TAG.size})`, at);
      default:
        return assertNever(kind, "kv op kind");
    }
  });
}

function readWrite(r: Reader, kind: KvWrite["kind"], field: string): KvWrite {
  const key = readKey(r, `${field}.key`);
  return kind === "set" ? { kind, key, value: readJson(r, `${field}.value`) } : { kind, key };
}

/** Writes a key: a `string`; throws `InvalidValue` (as the store's gate does) for an invalid one. */
export function writeKey(w: Writer, key: string, field: string): void {
  checkKey(key);
  w.string(key, field);
}

/** Reads a key: a non-empty `string`. */
export function readKey(r: Reader, field: string): string {
  const at = r.offset;
  const key = r.string(field);
  if (key.length === 0) r.fail(field, "is empty, but a key is a non-empty string", at);
  return key;
}
