/**
 * The y-websocket wire protocol as a tagged union and one symmetric codec (lib0 encoding).
 *
 * Outer frame: `varUint messageType` then the body.
 *
 * | type | body | variant |
 * |---|---|---|
 * | 0 sync | `varUint 0` + `varUint8Array stateVector` | `sync-step1` |
 * |        | `varUint 1` + `varUint8Array update` | `sync-step2` |
 * |        | `varUint 2` + `varUint8Array update` | `sync-update` |
 * | 1 awareness | `varUint8Array awarenessUpdate` (format in {@link encodeAwarenessUpdate}) | `awareness` |
 * | 2 auth | `varUint 0` + `varString reason` | `auth-denied` |
 * | 3 query-awareness | (empty) | `query-awareness` |
 * | 100 / 101 / 102 | `varUint version` / `varUint received` / `varString token` | `concord-hello` / `concord-ack` / `concord-auth` |
 * | any other | opaque rest of the frame | `unknown` |
 *
 * Types 4..99 are left to the upstream protocol and its well-known dialects (Hocuspocus uses
 * 4..10); types from {@link CONCORD_EXTENSION_MIN_TYPE} (100) up are reserved for Concord's own
 * extensions (acks, auth refresh). Stock y-websocket ignores types it does not know, and so do we.
 *
 * Updates are Yjs updates in format v1 (what `Y.encodeStateAsUpdate` / `doc.on("update")` produce),
 * as every y-websocket peer uses.
 */
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { ConcordError, InvariantError, assertNever } from "../../errors.js";
import type { Json } from "../../json.js";

/** One client's presence in an awareness update. `state: null` means "this client is gone". */
export interface AwarenessEntry {
  /** The Yjs `doc.clientID` of the client the state belongs to. Safe integer >= 0. */
  readonly clientId: number;
  /** Bumped by the owner on every change; higher wins. Safe integer >= 0. */
  readonly clock: number;
  readonly state: Json;
}

/**
 * One y-websocket message. Byte fields returned by {@link decodeMessage} are views into the decoded
 * buffer (no copy): the caller MUST NOT mutate that buffer while it uses the message.
 */
export type Message =
  /** "Here is what I have": the receiver answers with a `sync-step2` holding what the sender lacks. */
  | { readonly type: "sync-step1"; readonly stateVector: Uint8Array }
  /** The answer to a `sync-step1`: every struct the asker lacks, plus the sender's whole delete set. */
  | { readonly type: "sync-step2"; readonly update: Uint8Array }
  /** A live update, sent when a document changes. */
  | { readonly type: "sync-update"; readonly update: Uint8Array }
  | { readonly type: "awareness"; readonly entries: readonly AwarenessEntry[] }
  /** The peer refuses us access (stock y-websocket "permission denied"). */
  | { readonly type: "auth-denied"; readonly reason: string }
  /** "Send me every awareness state you know." */
  | { readonly type: "query-awareness" }
  /**
   * Concord extension: "I speak Concord's extensions (version `version`)". Sent first by a client,
   * only in reply by a server, so stock peers never receive extension messages.
   */
  | { readonly type: "concord-hello"; readonly version: number }
  /**
   * Concord extension: "I durably hold everything in the first `received` update-bearing messages
   * (sync step 2 and updates) you sent me on this connection".
   */
  | { readonly type: "concord-ack"; readonly received: number }
  /**
   * Concord extension: "here is my bearer token". Sent by a client as its FIRST frame, instead of
   * `?token=` in the URL (which proxies and access logs may record), to a server that has auth on.
   */
  | { readonly type: "concord-auth"; readonly token: string }
  /**
   * A message type this codec does not know (`messageType` is never 0..3 or 100..102). Kept so that a relay can
   * round-trip it and a peer can ignore it, as stock y-websocket does.
   */
  | { readonly type: "unknown"; readonly messageType: number; readonly payload: Uint8Array };

/** Outer message types of the stock protocol. */
export const MessageType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;

/** Sub-types of `MessageType.sync`. */
const SyncStep = { step1: 0, step2: 1, update: 2 } as const;

/** The only auth sub-type of the stock protocol. */
const AUTH_PERMISSION_DENIED = 0;

/**
 * Outer message types from here up (inclusive) are reserved for Concord's extensions. A stock peer
 * ignores them; an older Concord peer decodes them as `unknown` and ignores them too.
 */
export const CONCORD_EXTENSION_MIN_TYPE = 100;

/** Concord's extension message types. */
export const ConcordMessageType = { hello: 100, ack: 101, auth: 102 } as const;

/** The extension version this code speaks. */
export const CONCORD_PROTOCOL_VERSION = 1;

/** Options for {@link decodeMessage}. */
export interface DecodeOptions {
  /** Messages longer than this many bytes are refused with `TooLarge` before any parsing. */
  readonly maxBytes?: number;
}

/**
 * Encodes `m` into a fresh buffer. The inverse of {@link decodeMessage}: `decodeMessage(encodeMessage(m))`
 * deep-equals `m` for every message whose payloads are real Yjs payloads and whose awareness states
 * survive a JSON round trip.
 *
 * Does not validate update or state-vector payloads (they come from Yjs). Throws an
 * {@link InvariantError} for a message no decoder would produce: an `unknown` whose `messageType`
 * is a stock type or not a safe integer, or awareness entries with invalid ids or clocks.
 */
export function encodeMessage(m: Message): Uint8Array {
  const e = encoding.createEncoder();
  switch (m.type) {
    case "sync-step1":
      writeSync(e, SyncStep.step1, m.stateVector);
      break;
    case "sync-step2":
      writeSync(e, SyncStep.step2, m.update);
      break;
    case "sync-update":
      writeSync(e, SyncStep.update, m.update);
      break;
    case "awareness":
      encoding.writeVarUint(e, MessageType.awareness);
      encoding.writeVarUint8Array(e, encodeAwarenessUpdate(m.entries));
      break;
    case "auth-denied":
      encoding.writeVarUint(e, MessageType.auth);
      encoding.writeVarUint(e, AUTH_PERMISSION_DENIED);
      encoding.writeVarString(e, m.reason);
      break;
    case "query-awareness":
      encoding.writeVarUint(e, MessageType.queryAwareness);
      break;
    case "concord-hello":
      writeExtension(e, ConcordMessageType.hello, m.version);
      break;
    case "concord-ack":
      writeExtension(e, ConcordMessageType.ack, m.received);
      break;
    case "concord-auth":
      encoding.writeVarUint(e, ConcordMessageType.auth);
      encoding.writeVarString(e, m.token);
      break;
    case "unknown":
      if (!Number.isSafeInteger(m.messageType) || m.messageType <= MessageType.queryAwareness || isKnownExtension(m.messageType)) {
        throw new InvariantError(`an unknown message cannot have the message type ${m.messageType}`);
      }
      encoding.writeVarUint(e, m.messageType);
      encoding.writeUint8Array(e, m.payload);
      break;
    default:
      assertNever(m, "message");
  }
  return encoding.toUint8Array(e);
}

function writeExtension(e: encoding.Encoder, type: number, value: number): void {
  if (!isSafeUint(value)) throw new InvariantError(`extension message ${type} with value ${value}`);
  encoding.writeVarUint(e, type);
  encoding.writeVarUint(e, value);
}

function isKnownExtension(type: number): boolean {
  return type === ConcordMessageType.hello || type === ConcordMessageType.ack || type === ConcordMessageType.auth;
}

function writeSync(e: encoding.Encoder, step: number, payload: Uint8Array): void {
  encoding.writeVarUint(e, MessageType.sync);
  encoding.writeVarUint(e, step);
  encoding.writeVarUint8Array(e, payload);
}

/**
 * Decodes one message. Throws ONLY a {@link ConcordError}: `TooLarge` when `bytes` exceeds
 * `options.maxBytes`, `Protocol` for anything malformed (empty, truncated, trailing bytes, bad
 * sub-type, integer out of the safe range, invalid UTF-8 or JSON, a state vector or update that does
 * not parse as Yjs would parse it). Never anything else.
 *
 * A decoded `sync-step1` / `sync-step2` / `sync-update` has passed {@link validateStateVector} /
 * {@link validateUpdate}, so it is safe to hand to Yjs.
 */
export function decodeMessage(bytes: Uint8Array, options: DecodeOptions = {}): Message {
  const { maxBytes } = options;
  if (maxBytes !== undefined && bytes.length > maxBytes) {
    throw new ConcordError("TooLarge", `message of ${bytes.length} bytes exceeds the limit of ${maxBytes} bytes`, {
      bytes: bytes.length,
      maxBytes,
    });
  }
  return parsing("message", bytes, "refuse", (d) => {
    const messageType = readSafeVarUint(d);
    switch (messageType) {
      case MessageType.sync:
        return readSyncBody(d);
      case MessageType.awareness:
        return { type: "awareness", entries: decodeAwarenessUpdate(decoding.readVarUint8Array(d)) };
      case MessageType.auth: {
        const sub = readSafeVarUint(d);
        if (sub !== AUTH_PERMISSION_DENIED) throw malformed(`unknown auth message sub-type ${sub}`);
        return { type: "auth-denied", reason: decoding.readVarString(d) };
      }
      case MessageType.queryAwareness:
        return { type: "query-awareness" };
      case ConcordMessageType.hello: {
        const version = readSafeVarUint(d);
        if (version < 1) throw malformed(`concord-hello with version ${version}`);
        return { type: "concord-hello", version };
      }
      case ConcordMessageType.ack:
        return { type: "concord-ack", received: readSafeVarUint(d) };
      case ConcordMessageType.auth:
        return { type: "concord-auth", token: decoding.readVarString(d) };
      default:
        return { type: "unknown", messageType, payload: decoding.readTailAsUint8Array(d) };
    }
  });
}

function readSyncBody(d: decoding.Decoder): Message {
  const step = readSafeVarUint(d);
  const payload = decoding.readVarUint8Array(d);
  switch (step) {
    case SyncStep.step1:
      validateStateVector(payload);
      return { type: "sync-step1", stateVector: payload };
    case SyncStep.step2:
      validateUpdate(payload);
      return { type: "sync-step2", update: payload };
    case SyncStep.update:
      validateUpdate(payload);
      return { type: "sync-update", update: payload };
    default:
      throw malformed(`unknown sync message sub-type ${step}`);
  }
}

/**
 * Encodes awareness entries in the y-protocols awareness update format: `varUint count`, then per
 * entry `varUint clientID`, `varUint clock`, `varString JSON.stringify(state)` (`"null"` = removed).
 * Throws an {@link InvariantError} for an id or clock that is not a safe integer >= 0, or a state
 * that `JSON.stringify` cannot encode (callers validate states where they enter, see `AwarenessState`).
 */
export function encodeAwarenessUpdate(entries: readonly AwarenessEntry[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, entries.length);
  for (const entry of entries) {
    if (!isSafeUint(entry.clientId) || !isSafeUint(entry.clock)) {
      throw new InvariantError(`awareness entry with client ${entry.clientId} and clock ${entry.clock}`);
    }
    const json = JSON.stringify(entry.state) as string | undefined;
    if (json === undefined) throw new InvariantError(`awareness state of client ${entry.clientId} is not JSON`);
    encoding.writeVarUint(e, entry.clientId);
    encoding.writeVarUint(e, entry.clock);
    encoding.writeVarString(e, json);
  }
  return encoding.toUint8Array(e);
}

/**
 * Decodes a y-protocols awareness update. Throws ONLY a `Protocol` {@link ConcordError}: truncated,
 * trailing bytes, ids or clocks outside the safe integer range, invalid UTF-8 or JSON.
 */
export function decodeAwarenessUpdate(update: Uint8Array): AwarenessEntry[] {
  return parsing("awareness update", update, "refuse", (d) => {
    const count = readSafeVarUint(d);
    const entries: AwarenessEntry[] = [];
    for (let i = 0; i < count; i++) {
      const clientId = readSafeVarUint(d);
      const clock = readSafeVarUint(d);
      const state = JSON.parse(decoding.readVarString(d)) as Json;
      entries.push({ clientId, clock, state });
    }
    return entries;
  });
}

/**
 * Checks that `stateVector` parses as `Y.decodeStateVector` parses it (which is what
 * `Y.encodeStateAsUpdate(doc, stateVector)` runs), without building the map; like Yjs it ignores
 * bytes after the last entry. Throws ONLY a `Protocol` {@link ConcordError}.
 */
export function validateStateVector(stateVector: Uint8Array): void {
  parsing("state vector", stateVector, "ignore", (d) => {
    const clients = decoding.readVarUint(d);
    for (let i = 0; i < clients; i++) {
      decoding.readVarUint(d); // client
      decoding.readVarUint(d); // clock
    }
  });
}

/**
 * Checks that `update` is a Yjs update (format v1) that Yjs can integrate, without building any
 * struct. MUST pass before untrusted bytes reach `Y.applyUpdate`: Yjs integrates an update's structs
 * before it reads its delete set, and crashes half-way on some inconsistencies, either way leaving a
 * half-applied update behind.
 *
 * Checks: everything Yjs's reader checks (it accepts nothing `Y.decodeUpdate` refuses; a
 * differential property test holds it to that), plus two invariants of every update Yjs writes and
 * that its integration relies on: no struct is empty, and no struct refers (origin, right origin,
 * parent) to its own client at or after its own clock; no delete range is empty. Like Yjs it ignores
 * bytes after the delete set.
 *
 * Not checked, because it needs the document: references ACROSS clients that contradict the
 * document (an origin and right origin that are not neighbours, say). Only a forged or corrupted
 * update is like that; Yjs may throw while integrating one, which `SyncCore` reports as `Protocol`.
 *
 * Throws ONLY a `Protocol` {@link ConcordError}.
 */
export function validateUpdate(update: Uint8Array): void {
  parsing("update", update, "ignore", (d) => {
    const clients = decoding.readVarUint(d);
    for (let i = 0; i < clients; i++) {
      const structs = decoding.readVarUint(d);
      const client = decoding.readVarUint(d);
      let clock = decoding.readVarUint(d);
      for (let j = 0; j < structs; j++) clock += checkStruct(d, client, clock);
    }
    checkDeleteSet(d);
  });
}

// Struct info byte: bits 0-4 content ref, bit 5 has parentSub, bit 6 has right origin, bit 7 has
// origin. We follow Yjs's update reader (`lazyStructReaderGenerator`, behind `Y.decodeUpdate`,
// `mergeUpdates` and `diffUpdate`), which is stricter than `applyUpdate`'s `readClientsStructRefs`:
// ref 0 is a GC whatever the flag bits, but a Skip is info exactly 10; any other info with ref 10 is
// read as an item whose content ref 10 has no reader, so it throws.
const INFO_CONTENT_REF = 0b0001_1111;
const INFO_PARENT_SUB = 0b0010_0000;
const INFO_RIGHT_ORIGIN = 0b0100_0000;
const INFO_ORIGIN = 0b1000_0000;
const REF_GC = 0;
const REF_SKIP = 10;
/** Yjs type refs 3 (XmlElement) and 5 (XmlHook) carry a name; 0..6 exist. */
const TYPE_REF_XML_ELEMENT = 3;
const TYPE_REF_XML_HOOK = 5;
const TYPE_REF_MAX = 6;

/** Reads one struct of `client` starting at `clock`; returns its length. */
function checkStruct(d: decoding.Decoder, client: number, clock: number): number {
  if (d.pos >= d.arr.length) throw malformed("update ends inside a struct");
  const info = decoding.readUint8(d);
  const ref = info & INFO_CONTENT_REF;
  if (ref === REF_GC) return checkLength(decoding.readVarUint(d), client, clock);
  if (ref === REF_SKIP) {
    if (info !== REF_SKIP) throw malformed(`Skip struct (${client}, ${clock}) with info ${info}: a Skip has no flag bits`);
    return checkLength(decoding.readVarUint(d), client, clock);
  }
  if (info & INFO_ORIGIN) checkReference(d, client, clock, "origin");
  if (info & INFO_RIGHT_ORIGIN) checkReference(d, client, clock, "right origin");
  if ((info & (INFO_ORIGIN | INFO_RIGHT_ORIGIN)) === 0) {
    // No origin to copy the parent from: the parent is named (root type) or an item id.
    if (decoding.readVarUint(d) === 1) decoding.readVarString(d);
    else checkReference(d, client, clock, "parent");
    if (info & INFO_PARENT_SUB) decoding.readVarString(d);
  }
  return checkLength(readContentLength(d, ref), client, clock);
}

/**
 * A struct only refers to structs that existed when it was created, so a reference to its own client
 * points backwards. Yjs assumes so and crashes half-way through integration on a forward reference.
 */
function checkReference(d: decoding.Decoder, client: number, clock: number, what: string): void {
  const refClient = decoding.readVarUint(d);
  const refClock = decoding.readVarUint(d);
  if (refClient === client && refClock >= clock) {
    throw malformed(`struct (${client}, ${clock}) has its ${what} at (${refClient}, ${refClock}), not before it`);
  }
}

/** Yjs never writes an empty struct, and its binary searches break on one. */
function checkLength(length: number, client: number, clock: number): number {
  if (length < 1) throw malformed(`struct (${client}, ${clock}) is empty`);
  return length;
}

/**
 * Mirrors Yjs's `contentRefs` readers, with every check they make (UTF-8, JSON, `readAny`); returns
 * the content's length in Yjs clock units.
 */
function readContentLength(d: decoding.Decoder, ref: number): number {
  switch (ref) {
    case 1: // Deleted
      return decoding.readVarUint(d);
    case 2: {
      // JSON: strings, "undefined" is special
      const n = decoding.readVarUint(d);
      for (let i = 0; i < n; i++) {
        const s = decoding.readVarString(d);
        if (s !== "undefined") JSON.parse(s);
      }
      return n;
    }
    case 3: // Binary
      decoding.readVarUint8Array(d);
      return 1;
    case 4: // String: length in UTF-16 code units
      return decoding.readVarString(d).length;
    case 5: // Embed
      JSON.parse(decoding.readVarString(d));
      return 1;
    case 6: // Format: key, JSON value
      decoding.readVarString(d);
      JSON.parse(decoding.readVarString(d));
      return 1;
    case 7: {
      // Type
      const typeRef = decoding.readVarUint(d);
      if (typeRef > TYPE_REF_MAX) throw malformed(`unknown Yjs type ref ${typeRef}`);
      if (typeRef === TYPE_REF_XML_ELEMENT || typeRef === TYPE_REF_XML_HOOK) decoding.readVarString(d);
      return 1;
    }
    case 8: {
      // Any
      const n = decoding.readVarUint(d);
      for (let i = 0; i < n; i++) decoding.readAny(d);
      return n;
    }
    case 9: {
      // Doc: guid, options (Yjs reads `options.shouldLoad`, so nullish options throw there)
      decoding.readVarString(d);
      const opts: unknown = decoding.readAny(d);
      if (opts === null || opts === undefined) throw malformed("subdocument without options");
      return 1;
    }
    default:
      throw malformed(`unknown Yjs content ref ${ref}`);
  }
}

function checkDeleteSet(d: decoding.Decoder): void {
  const clients = decoding.readVarUint(d);
  for (let i = 0; i < clients; i++) {
    const client = decoding.readVarUint(d);
    const ranges = decoding.readVarUint(d);
    for (let j = 0; j < ranges; j++) {
      const clock = decoding.readVarUint(d);
      if (decoding.readVarUint(d) < 1) throw malformed(`empty delete range at (${client}, ${clock})`);
    }
  }
}

/**
 * Runs `read` over `bytes` and turns every failure into a `Protocol` {@link ConcordError} (a
 * `ConcordError` from a nested payload passes through unchanged); `trailing` says whether bytes left
 * after `read` are refused. lib0 and Yjs throw plain `Error`s, `TypeError`s (bad UTF-8, unknown
 * `readAny` tags), `SyntaxError`s (JSON) and `RangeError`s (stack overflow on deep nesting).
 */
function parsing<T>(what: string, bytes: Uint8Array, trailing: "refuse" | "ignore", read: (d: decoding.Decoder) => T): T {
  const d = decoding.createDecoder(bytes);
  let value: T;
  try {
    value = read(d);
  } catch (e) {
    if (e instanceof ConcordError) throw e;
    const reason = e instanceof Error ? e.message : String(e);
    throw new ConcordError(
      "Protocol",
      `malformed ${what}: ${reason} (near byte ${d.pos} of ${bytes.length})`,
      { what, offset: d.pos, length: bytes.length },
      { cause: e },
    );
  }
  if (trailing === "refuse" && decoding.hasContent(d)) {
    throw new ConcordError("Protocol", `malformed ${what}: ${bytes.length - d.pos} trailing bytes`, {
      what,
      offset: d.pos,
      length: bytes.length,
    });
  }
  return value;
}

/** An error for {@link parsing} to wrap; its message becomes the reason. */
function malformed(reason: string): Error {
  return new Error(reason);
}

function readSafeVarUint(d: decoding.Decoder): number {
  const n = decoding.readVarUint(d);
  if (!Number.isSafeInteger(n)) throw malformed(`integer ${n} is out of the safe range`);
  return n;
}

function isSafeUint(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}
