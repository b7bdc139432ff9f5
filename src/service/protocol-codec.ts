/**
 * The binary codec of the client protocol ({@link Request}, {@link Response} of `protocol.ts`;
 * STYLE.md section 4): versioned, symmetric (every write has its read, in the same order) and
 * canonical (a decoded message re-encodes to the very bytes it came from). Built from the shared
 * primitives of `src/codec/primitives.ts` and the binary JSON of `src/codec/json-value.ts`.
 *
 * A message is `u8 version (2)`, `u8 type`, then the variant's own fields in the order
 * `protocol.ts` declares them. Requests and responses are two codecs with their own tag tables
 * (a response's bytes are never read as a request: each side decodes only what it expects).
 *
 * | tag | request | body |
 * |---|---|---|
 * | 1 | get | `uint id`, `id doc`, `key key`, `read read` |
 * | 2 | entries | `uint id`, `id doc`, `string prefix`, `read read` |
 * | 3 | write | `uint id`, `id doc`, `list<condition> conditions`, `list<writeOp> ops`, `durability durability`, `opt<session> session` |
 * | 4 | subscribe | `uint id`, `id doc`, `string prefix`, `opt<position> from` |
 * | 5 | unsubscribe | `uint id`, `uint subscription` |
 * | 6 | status | `uint id` |
 * | 7 | hello | `uint id` |
 * | 8 | open-session | `uint id` |
 * | 9 | admin | `uint id`, `action action` |
 *
 * | tag | response | body |
 * |---|---|---|
 * | 1 | value | `uint id`, `opt<json> value` (absent: no such key), `info info` |
 * | 2 | entries | `uint id`, `list<entry> entries`, `info info` |
 * | 3 | written | `uint id`, `position position`, `list<id> replicas`, `bool succeeded` |
 * | 4 | subscribed | `uint id`, `uint subscription`, `position position`, `bool replayed` |
 * | 5 | unsubscribed | `uint id` |
 * | 6 | status | `uint id`, `json status` |
 * | 7 | error | `uint id`, `string code`, `string message`, `opt<id> redirect` |
 * | 8 | changes | `uint subscription`, `position position`, `list<change> changes` |
 * | 9 | welcome | `uint id`, `id node`, `position position` |
 * | 10 | session-opened | `uint id`, `uint session` |
 * | 11 | admin-done | `uint id`, `position position` |
 *
 * - `key`: a non-empty `string` (the rule and the reader/writer of `src/kv/ops.ts`). A `prefix` is
 *   any `string`, the empty one included. A `doc` is an `id` (1 to 255 code units).
 * - `read`: `u8 consistency` (linearizable 1, local 2), `opt<uint> maxStalenessMs`,
 *   `opt<position> after`, `uint timeoutMs`.
 * - `position`: `uint epoch`, `uint lsn`.
 * - `info`: `u8 role` (primary 1, replica 2, leader 3, follower 4), `position position`,
 *   `uint lagLsn`, `opt<uint> silentMs`: ABSENT stands for -1 (the primary was never heard), so
 *   every other value is a plain non-negative integer.
 * - `writeOp`: `u8 kind`, then set (1): `key key`, `json value`; delete (2): `key key`.
 * - `condition`: `u8 test`, then absent (1): `key key`; present (2): `key key`; equals (3):
 *   `key key`, `json value`.
 * - `durability`: `u8 level`, then local (1): nothing; replicas (2): `uint n`; committed (3): nothing.
 * - `session`: `uint id`, `uint seq`, `uint firstUnacked`.
 * - `action`: `u8 type`, then promote (1): nothing; add-learner (2): `id node`, `string url`;
 *   promote-learner (3), remove (4), transfer (5): `id node`.
 * - `entry`: `key key`, `json value`. `change`: `key key`, `opt<json> value` (absent: deleted).
 * - `id`: a peer id (replicas, redirect, node); `code`: one of {@link ERROR_CODES} by name.
 *
 * `null`/`undefined` options are an explicit `bool` presence flag. Ids, LSNs, epochs, counts and
 * milliseconds are `uint`s. List order is the value's (entries are not re-sorted); JSON object
 * members come back sorted by key (see json-value.ts). Only the shape is checked: whether entries
 * are sorted or a subscription exists is for the endpoints to judge. An error code added to
 * `ErrorCode`, and a message type added with the next free tag, are refused as `Protocol` by
 * decoders of earlier releases: appending a tag is not a layout change. Any layout change MUST bump
 * {@link PROTOCOL_CODEC_VERSION}: the golden bytes of test/service/protocol-codec.test.ts fail on
 * an accidental one. Version 1 (Concord 0.1) had no documents, conditions, sessions or hello.
 */
import { readJson, writeJson } from "../codec/json-value.js";
import { decodeVersioned, encodeVersioned, tagLookup, type BinaryFormat, type DecodeLimits, type Reader, type Writer } from "../codec/primitives.js";
import { ERROR_CODES, assertNever, isErrorCode, type ErrorCode } from "../errors.js";
import type { Json } from "../json.js";
import { frozenValue, readKey, writeKey } from "../kv/ops.js";
import type {
  AdminAction,
  ReadConsistency,
  ReadOptions,
  Request,
  RequestType,
  Response,
  ResponseType,
  WireDurability,
  WirePosition,
  WireReadInfo,
  WireSession,
  WriteCondition,
  WriteOp,
} from "./protocol.js";

/** The format version this code writes, and the only one it reads. */
export const PROTOCOL_CODEC_VERSION = 2;

/**
 * Longest request frame a node reads by default (16 MiB; `maxRequestBytes` of a node server). A
 * client refuses a longer request with `TooLarge` before sending it: a node would drop the
 * connection on it, leaving a write's fate unknown.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** The client protocol's wire format, for `encodeVersioned` / `decodeVersioned`. */
export const PROTOCOL_FORMAT: BinaryFormat = { name: "client protocol codec", version: PROTOCOL_CODEC_VERSION, idName: "peer id" };

/** Wire tag of each request type. Compile-time exhaustive: a new variant must get a tag here. */
export const REQUEST_TAGS: { readonly [T in RequestType]: number } = {
  get: 1,
  entries: 2,
  write: 3,
  subscribe: 4,
  unsubscribe: 5,
  status: 6,
  hello: 7,
  "open-session": 8,
  admin: 9,
};

/** Wire tag of each response type. Compile-time exhaustive: a new variant must get a tag here. */
export const RESPONSE_TAGS: { readonly [T in ResponseType]: number } = {
  value: 1,
  entries: 2,
  written: 3,
  subscribed: 4,
  unsubscribed: 5,
  status: 6,
  error: 7,
  changes: 8,
  welcome: 9,
  "session-opened": 10,
  "admin-done": 11,
};

const ROLE_TAGS: { readonly [R in WireReadInfo["role"]]: number } = { primary: 1, replica: 2, leader: 3, follower: 4 };
const DURABILITY_TAGS: { readonly [L in WireDurability["level"]]: number } = { local: 1, replicas: 2, committed: 3 };
const WRITE_OP_TAGS: { readonly [K in WriteOp["kind"]]: number } = { set: 1, delete: 2 };
const CONDITION_TAGS: { readonly [T in WriteCondition["test"]]: number } = { absent: 1, present: 2, equals: 3 };
const CONSISTENCY_TAGS: { readonly [C in ReadConsistency]: number } = { linearizable: 1, local: 2 };
const ACTION_TAGS: { readonly [T in AdminAction["type"]]: number } = { promote: 1, "add-learner": 2, "promote-learner": 3, remove: 4, transfer: 5 };

const REQUEST_BY_TAG = tagLookup(REQUEST_TAGS);
const RESPONSE_BY_TAG = tagLookup(RESPONSE_TAGS);
const ROLE_BY_TAG = tagLookup(ROLE_TAGS);
const DURABILITY_BY_TAG = tagLookup(DURABILITY_TAGS);
const WRITE_OP_BY_TAG = tagLookup(WRITE_OP_TAGS);
const CONDITION_BY_TAG = tagLookup(CONDITION_TAGS);
const CONSISTENCY_BY_TAG = tagLookup(CONSISTENCY_TAGS);
const ACTION_BY_TAG = tagLookup(ACTION_TAGS);

/**
 * Encodes `m` into a fresh buffer; {@link decodeRequest} returns a request deep-equal to it (JSON
 * object members come back sorted by key). Throws `InvalidValue` for an empty or ill-formed key or
 * a value that is not JSON (as `encodeOp` of src/kv/ops.ts does), and an `InvariantError` (a caller
 * bug) for an id, count or time that is not a non-negative safe integer, or a prefix with a lone
 * surrogate.
 */
export function encodeRequest(m: Request): Uint8Array {
  return encodeVersioned(PROTOCOL_FORMAT, (w) => {
    w.tag(REQUEST_TAGS[m.type]);
    w.uint(m.id, `${m.type}.id`);
    switch (m.type) {
      case "get":
        w.id(m.doc, "get.doc");
        writeKey(w, m.key, "get.key");
        writeReadOptions(w, m.read, "get.read");
        return;
      case "entries":
        w.id(m.doc, "entries.doc");
        w.string(m.prefix, "entries.prefix");
        writeReadOptions(w, m.read, "entries.read");
        return;
      case "write":
        w.id(m.doc, "write.doc");
        w.count(m.conditions.length, "write.conditions");
        m.conditions.forEach((c, i) => writeCondition(w, c, `write.conditions[${i}]`));
        w.count(m.ops.length, "write.ops");
        m.ops.forEach((op, i) => writeWriteOp(w, op, `write.ops[${i}]`));
        writeDurability(w, m.durability, "write.durability");
        w.bool(m.session !== null);
        if (m.session !== null) writeSession(w, m.session, "write.session");
        return;
      case "subscribe":
        w.id(m.doc, "subscribe.doc");
        w.string(m.prefix, "subscribe.prefix");
        w.bool(m.from !== null);
        if (m.from !== null) writePosition(w, m.from, "subscribe.from");
        return;
      case "unsubscribe":
        w.uint(m.subscription, "unsubscribe.subscription");
        return;
      case "status":
      case "hello":
      case "open-session":
        return;
      case "admin":
        writeAction(w, m.action, "admin.action");
        return;
      default:
        assertNever(m, "client request");
    }
  });
}

/**
 * Decodes one request. Throws ONLY a `ConcordError`: `TooLarge` when `bytes` is longer than
 * `limits.maxBytes`; otherwise `Protocol`, naming the field and byte offset, for a version other
 * than 1, an unknown tag (type, op kind, durability level), truncation, trailing bytes, an empty
 * key, invalid UTF-8, a varint that is overlong or above 2^53 - 1, a bool other than 0/1, and
 * anything non-canonical in a JSON value. JSON values are deep-frozen and never alias `bytes`.
 */
export function decodeRequest(bytes: Uint8Array, limits?: DecodeLimits): Request {
  return decodeVersioned(PROTOCOL_FORMAT, "client request", bytes, limits, (r): Request => {
    const type = readTag(r, "type", REQUEST_BY_TAG);
    const id = r.uint(`${type}.id`);
    switch (type) {
      case "get":
        return { type, id, doc: r.id("get.doc"), key: readKey(r, "get.key"), read: readReadOptions(r, "get.read") };
      case "entries":
        return { type, id, doc: r.id("entries.doc"), prefix: r.string("entries.prefix"), read: readReadOptions(r, "entries.read") };
      case "write": {
        const doc = r.id("write.doc");
        const conditions: WriteCondition[] = [];
        const conditionCount = r.count("write.conditions");
        for (let i = 0; i < conditionCount; i++) conditions.push(readCondition(r, `write.conditions[${i}]`));
        const ops: WriteOp[] = [];
        const opCount = r.count("write.ops");
        for (let i = 0; i < opCount; i++) ops.push(readWriteOp(r, `write.ops[${i}]`));
        const durability = readDurability(r, "write.durability");
        const session = r.bool("write.session present") ? readSession(r, "write.session") : null;
        return { type, id, doc, conditions, ops, durability, session };
      }
      case "subscribe":
        return {
          type,
          id,
          doc: r.id("subscribe.doc"),
          prefix: r.string("subscribe.prefix"),
          from: r.bool("subscribe.from present") ? readPosition(r, "subscribe.from") : null,
        };
      case "unsubscribe":
        return { type, id, subscription: r.uint("unsubscribe.subscription") };
      case "status":
      case "hello":
      case "open-session":
        return { type, id };
      case "admin":
        return { type, id, action: readAction(r, "admin.action") };
      default:
        return assertNever(type, "client request type");
    }
  });
}

/**
 * Encodes `m` into a fresh buffer; {@link decodeResponse} returns a response deep-equal to it (JSON
 * object members come back sorted by key). Throws `InvalidValue` for an empty or ill-formed key or
 * a value that is not JSON, `InvalidArgument` for a replica or redirect that is not a valid peer id
 * (see `invalidIdReason`), and an `InvariantError` (a caller bug) for a number out of its domain
 * (`silentMs` is -1 or a non-negative safe integer), an unknown error code, or a message with a
 * lone surrogate.
 */
export function encodeResponse(m: Response): Uint8Array {
  return encodeVersioned(PROTOCOL_FORMAT, (w) => {
    w.tag(RESPONSE_TAGS[m.type]);
    switch (m.type) {
      case "value":
        w.uint(m.id, "value.id");
        writeOptionalJson(w, m.value, "value.value");
        writeReadInfo(w, m.info, "value.info");
        return;
      case "entries":
        w.uint(m.id, "entries.id");
        w.count(m.entries.length, "entries.entries");
        m.entries.forEach(([key, value], i) => {
          writeKey(w, key, `entries.entries[${i}].key`);
          writeValue(w, value, `entries.entries[${i}].value`);
        });
        writeReadInfo(w, m.info, "entries.info");
        return;
      case "written":
        w.uint(m.id, "written.id");
        writePosition(w, m.position, "written.position");
        w.count(m.replicas.length, "written.replicas");
        m.replicas.forEach((replica, i) => w.id(replica, `written.replicas[${i}]`));
        w.bool(m.succeeded);
        return;
      case "subscribed":
        w.uint(m.id, "subscribed.id");
        w.uint(m.subscription, "subscribed.subscription");
        writePosition(w, m.position, "subscribed.position");
        w.bool(m.replayed);
        return;
      case "unsubscribed":
        w.uint(m.id, "unsubscribed.id");
        return;
      case "status":
        w.uint(m.id, "status.id");
        writeValue(w, m.status, "status.status");
        return;
      case "error":
        w.uint(m.id, "error.id");
        if (!isErrorCode(m.code)) w.refuse("error.code", `is ${JSON.stringify(m.code)}, not an ErrorCode`);
        w.string(m.code, "error.code");
        w.string(m.message, "error.message");
        w.bool(m.redirect !== null);
        if (m.redirect !== null) w.id(m.redirect, "error.redirect");
        return;
      case "changes":
        w.uint(m.subscription, "changes.subscription");
        writePosition(w, m.position, "changes.position");
        w.count(m.changes.length, "changes.changes");
        m.changes.forEach((change, i) => {
          writeKey(w, change.key, `changes.changes[${i}].key`);
          writeOptionalJson(w, change.value, `changes.changes[${i}].value`);
        });
        return;
      case "welcome":
        w.uint(m.id, "welcome.id");
        w.id(m.node, "welcome.node");
        writePosition(w, m.position, "welcome.position");
        return;
      case "session-opened":
        w.uint(m.id, "session-opened.id");
        w.uint(m.session, "session-opened.session");
        return;
      case "admin-done":
        w.uint(m.id, "admin-done.id");
        writePosition(w, m.position, "admin-done.position");
        return;
      default:
        assertNever(m, "client response");
    }
  });
}

/**
 * Decodes one response. Throws ONLY a `ConcordError`: `TooLarge` when `bytes` is longer than
 * `limits.maxBytes`; otherwise `Protocol`, naming the field and byte offset, for everything
 * {@link decodeRequest} refuses, an unknown role tag, an error code this release does not know,
 * and a replica or redirect that is not a valid peer id. JSON values are deep-frozen and never
 * alias `bytes`.
 */
export function decodeResponse(bytes: Uint8Array, limits?: DecodeLimits): Response {
  return decodeVersioned(PROTOCOL_FORMAT, "client response", bytes, limits, (r): Response => {
    const type = readTag(r, "type", RESPONSE_BY_TAG);
    switch (type) {
      case "value":
        return { type, id: r.uint("value.id"), value: readOptionalJson(r, "value.value"), info: readReadInfo(r, "value.info") };
      case "entries": {
        const id = r.uint("entries.id");
        const count = r.count("entries.entries");
        const entries: (readonly [string, Json])[] = [];
        for (let i = 0; i < count; i++) {
          entries.push([readKey(r, `entries.entries[${i}].key`), readJson(r, `entries.entries[${i}].value`)]);
        }
        return { type, id, entries, info: readReadInfo(r, "entries.info") };
      }
      case "written": {
        const id = r.uint("written.id");
        const position = readPosition(r, "written.position");
        const count = r.count("written.replicas");
        const replicas: string[] = [];
        for (let i = 0; i < count; i++) replicas.push(r.id(`written.replicas[${i}]`));
        return { type, id, position, replicas, succeeded: r.bool("written.succeeded") };
      }
      case "subscribed":
        return {
          type,
          id: r.uint("subscribed.id"),
          subscription: r.uint("subscribed.subscription"),
          position: readPosition(r, "subscribed.position"),
          replayed: r.bool("subscribed.replayed"),
        };
      case "unsubscribed":
        return { type, id: r.uint("unsubscribed.id") };
      case "status":
        return { type, id: r.uint("status.id"), status: readJson(r, "status.status") };
      case "error":
        return {
          type,
          id: r.uint("error.id"),
          code: readErrorCode(r, "error.code"),
          message: r.string("error.message"),
          redirect: r.bool("error.redirect present") ? r.id("error.redirect") : null,
        };
      case "changes": {
        const subscription = r.uint("changes.subscription");
        const position = readPosition(r, "changes.position");
        const count = r.count("changes.changes");
        const changes: { readonly key: string; readonly value: Json | undefined }[] = [];
        for (let i = 0; i < count; i++) {
          changes.push({ key: readKey(r, `changes.changes[${i}].key`), value: readOptionalJson(r, `changes.changes[${i}].value`) });
        }
        return { type, subscription, position, changes };
      }
      case "welcome":
        return { type, id: r.uint("welcome.id"), node: r.id("welcome.node"), position: readPosition(r, "welcome.position") };
      case "session-opened":
        return { type, id: r.uint("session-opened.id"), session: r.uint("session-opened.session") };
      case "admin-done":
        return { type, id: r.uint("admin-done.id"), position: readPosition(r, "admin-done.position") };
      default:
        return assertNever(type, "client response type");
    }
  });
}

// ---- embedded forms (object literals evaluate in source order, which is the wire order) ----

/** Reads a `u8` tag of a contiguous table starting at 1. */
function readTag<K extends string>(r: Reader, field: string, byTag: ReadonlyMap<number, K>): K {
  const at = r.offset;
  const tag = r.u8(field);
  const kind = byTag.get(tag);
  if (kind === undefined) return r.fail(field, `has the unknown tag ${tag} (known: 1 to ${byTag.size})`, at);
  return kind;
}

function writePosition(w: Writer, p: WirePosition, field: string): void {
  w.uint(p.epoch, `${field}.epoch`);
  w.uint(p.lsn, `${field}.lsn`);
}

function readPosition(r: Reader, field: string): WirePosition {
  return { epoch: r.uint(`${field}.epoch`), lsn: r.uint(`${field}.lsn`) };
}

function writeOptionalUint(w: Writer, n: number | null, field: string): void {
  w.bool(n !== null);
  if (n !== null) w.uint(n, field);
}

function readOptionalUint(r: Reader, field: string): number | null {
  return r.bool(`${field} present`) ? r.uint(field) : null;
}

function writeReadOptions(w: Writer, o: ReadOptions, field: string): void {
  w.tag(CONSISTENCY_TAGS[o.consistency]);
  writeOptionalUint(w, o.maxStalenessMs, `${field}.maxStalenessMs`);
  w.bool(o.after !== null);
  if (o.after !== null) writePosition(w, o.after, `${field}.after`);
  w.uint(o.timeoutMs, `${field}.timeoutMs`);
}

function readReadOptions(r: Reader, field: string): ReadOptions {
  return {
    consistency: readTag(r, `${field}.consistency`, CONSISTENCY_BY_TAG),
    maxStalenessMs: readOptionalUint(r, `${field}.maxStalenessMs`),
    after: r.bool(`${field}.after present`) ? readPosition(r, `${field}.after`) : null,
    timeoutMs: r.uint(`${field}.timeoutMs`),
  };
}

function writeReadInfo(w: Writer, info: WireReadInfo, field: string): void {
  w.tag(ROLE_TAGS[info.role]);
  writePosition(w, info.position, `${field}.position`);
  w.uint(info.lagLsn, `${field}.lagLsn`);
  if (info.silentMs !== -1 && !(Number.isSafeInteger(info.silentMs) && info.silentMs >= 0)) {
    w.refuse(`${field}.silentMs`, `must be -1 (never heard) or a non-negative safe integer, got ${info.silentMs}`);
  }
  writeOptionalUint(w, info.silentMs === -1 ? null : info.silentMs, `${field}.silentMs`);
}

function readReadInfo(r: Reader, field: string): WireReadInfo {
  return {
    role: readTag(r, `${field}.role`, ROLE_BY_TAG),
    position: readPosition(r, `${field}.position`),
    lagLsn: r.uint(`${field}.lagLsn`),
    silentMs: readOptionalUint(r, `${field}.silentMs`) ?? -1,
  };
}

/** Also the layout of this field in strong mode's log entries (`strong/commands.ts`). */
export function writeWriteOp(w: Writer, op: WriteOp, field: string): void {
  w.tag(WRITE_OP_TAGS[op.kind]);
  writeKey(w, op.key, `${field}.key`);
  if (op.kind === "set") writeValue(w, op.value, `${field}.value`);
}

/** Also the layout of this field in strong mode's log entries (`strong/commands.ts`). */
export function readWriteOp(r: Reader, field: string): WriteOp {
  const kind = readTag(r, `${field}.kind`, WRITE_OP_BY_TAG);
  const key = readKey(r, `${field}.key`);
  return kind === "set" ? { kind, key, value: readJson(r, `${field}.value`) } : { kind, key };
}

/** Also the layout of this field in strong mode's log entries (`strong/commands.ts`). */
export function writeCondition(w: Writer, c: WriteCondition, field: string): void {
  w.tag(CONDITION_TAGS[c.test]);
  writeKey(w, c.key, `${field}.key`);
  if (c.test === "equals") writeValue(w, c.value, `${field}.value`);
}

/** Also the layout of this field in strong mode's log entries (`strong/commands.ts`). */
export function readCondition(r: Reader, field: string): WriteCondition {
  const test = readTag(r, `${field}.test`, CONDITION_BY_TAG);
  const key = readKey(r, `${field}.key`);
  return test === "equals" ? { test, key, value: readJson(r, `${field}.value`) } : { test, key };
}

/** Also the layout of this field in strong mode's log entries (`strong/commands.ts`). */
export function writeSession(w: Writer, s: WireSession, field: string): void {
  w.uint(s.id, `${field}.id`);
  w.uint(s.seq, `${field}.seq`);
  w.uint(s.firstUnacked, `${field}.firstUnacked`);
}

/** Also the layout of this field in strong mode's log entries (`strong/commands.ts`). */
export function readSession(r: Reader, field: string): WireSession {
  return { id: r.uint(`${field}.id`), seq: r.uint(`${field}.seq`), firstUnacked: r.uint(`${field}.firstUnacked`) };
}

function writeAction(w: Writer, a: AdminAction, field: string): void {
  w.tag(ACTION_TAGS[a.type]);
  switch (a.type) {
    case "promote":
      return;
    case "add-learner":
      w.id(a.node, `${field}.node`);
      w.string(a.url, `${field}.url`);
      return;
    case "promote-learner":
    case "remove":
    case "transfer":
      w.id(a.node, `${field}.node`);
      return;
    default:
      assertNever(a, "admin action");
  }
}

function readAction(r: Reader, field: string): AdminAction {
  const type = readTag(r, `${field}.type`, ACTION_BY_TAG);
  switch (type) {
    case "promote":
      return { type };
    case "add-learner":
      return { type, node: r.id(`${field}.node`), url: r.string(`${field}.url`) };
    case "promote-learner":
    case "remove":
    case "transfer":
      return { type, node: r.id(`${field}.node`) };
    default:
      return assertNever(type, "admin action type");
  }
}

function writeDurability(w: Writer, d: WireDurability, field: string): void {
  w.tag(DURABILITY_TAGS[d.level]);
  if (d.level === "replicas") w.uint(d.n, `${field}.n`);
}

function readDurability(r: Reader, field: string): WireDurability {
  const level = readTag(r, `${field}.level`, DURABILITY_BY_TAG);
  return level === "replicas" ? { level, n: r.uint(`${field}.n`) } : { level };
}

/** Writes a JSON value, checked as the kv ops check theirs (`InvalidValue` for anything not JSON). */
function writeValue(w: Writer, value: Json, field: string): void {
  writeJson(w, frozenValue(value, field), field);
}

function writeOptionalJson(w: Writer, value: Json | undefined, field: string): void {
  w.bool(value !== undefined);
  if (value !== undefined) writeValue(w, value, field);
}

function readOptionalJson(r: Reader, field: string): Json | undefined {
  return r.bool(`${field} present`) ? readJson(r, field) : undefined;
}

function readErrorCode(r: Reader, field: string): ErrorCode {
  const at = r.offset;
  const code = r.string(field);
  if (!isErrorCode(code)) {
    const shown = code.length <= 40 ? code : `${code.slice(0, 40)}...`;
    r.fail(field, `is ${JSON.stringify(shown)}, not one of the ${ERROR_CODES.length} error codes this release knows`, at);
  }
  return code;
}
