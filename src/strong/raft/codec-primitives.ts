/**
 * The primitives of the Raft wire and record format (`codec.ts`, `codec-entries.ts`), and the
 * framing every top-level value shares: `u8 version`, the value, nothing after it.
 *
 * - `u8`: one byte. `bool`: a `u8` that is 0 (false) or 1 (true).
 * - `uint`: unsigned LEB128 varint (lib0 `writeVarUint`), shortest form only, at most 2^53 - 1.
 * - `bytes`: `uint length` + the bytes. `opt<X>`: `bool present` + `X` when present.
 * - `node`: `uint length` + UTF-8; 1 to 255 UTF-16 code units (see {@link invalidNodeIdReason}).
 * - `list<X>`: `uint count` + `X` x count.
 *
 * The format is canonical: one value has exactly one encoding, so decoded bytes re-encode to
 * themselves. Writes use lib0 `encoding`; reads are our own over a lib0 decoder because lib0's
 * `readVarUint` accepts overlong varints and `readUint8` does not check bounds.
 */
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { ConcordError, InvariantError } from "../../errors.js";
import { asNodeId, type NodeId } from "./types.js";

/** The format version this code writes, and the only one it reads. */
export const RAFT_CODEC_VERSION = 1;

/** Longest node id in UTF-16 code units (same bound as a `DocId`). */
export const MAX_NODE_ID_LENGTH = 255;
/** A UTF-16 code unit takes at most 3 UTF-8 bytes (a surrogate pair: 4 bytes for 2 units). */
const MAX_NODE_ID_BYTES = 3 * MAX_NODE_ID_LENGTH;
const LONE_SURROGATE = /\p{Cs}/u;
/** Fatal: invalid UTF-8 throws. Keeps a leading BOM, so the string re-encodes to the same bytes. */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Options of every Raft decoder. */
export interface DecodeLimits {
  /** Inputs longer than this many bytes are refused with `TooLarge` before any parsing. */
  readonly maxBytes?: number;
}

/**
 * Why `id` cannot name a node on the wire, or null when it can: a node id is a non-empty string of
 * at most 255 UTF-16 code units without lone surrogates (UTF-8 cannot carry one, so it would not
 * survive a round trip). `asNodeId` does not check: whatever takes a node id from a user (config,
 * membership changes, transfer targets) MUST check it with this, because the encoders refuse an
 * invalid one with `InvalidArgument`, and an entry already in the log could then never be sent.
 */
export function invalidNodeIdReason(id: string): string | null {
  if (id.length === 0) return "is empty";
  if (id.length > MAX_NODE_ID_LENGTH) return `is ${id.length} UTF-16 code units long, more than ${MAX_NODE_ID_LENGTH}`;
  if (LONE_SURROGATE.test(id)) return "contains a lone surrogate, which UTF-8 cannot encode";
  return null;
}

/** Encodes one top-level value: the version byte, then what `write` writes. */
export function encodeVersioned(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeUint8(e, RAFT_CODEC_VERSION);
  write(e);
  return encoding.toUint8Array(e);
}

/**
 * Decodes one top-level value: checks the size limit and the version byte, runs `read`, refuses
 * trailing bytes. Throws ONLY a {@link ConcordError} (`TooLarge` or `Protocol`); anything else
 * thrown inside (a bug) is wrapped as `Protocol` so the decoder's contract holds.
 */
export function decodeVersioned<T>(what: string, bytes: Uint8Array, limits: DecodeLimits | undefined, read: (r: Reader) => T): T {
  const maxBytes = limits?.maxBytes;
  if (maxBytes !== undefined && bytes.byteLength > maxBytes) {
    throw new ConcordError("TooLarge", `${what} of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes`, {
      what,
      bytes: bytes.byteLength,
      maxBytes,
    });
  }
  const r = new Reader(what, bytes);
  try {
    const version = r.u8("version");
    if (version !== RAFT_CODEC_VERSION) {
      r.fail("version", `is ${version}, but this code reads only version ${RAFT_CODEC_VERSION} (a peer or file from another release?)`, 0);
    }
    const value = read(r);
    const trailing = bytes.byteLength - r.offset;
    if (trailing > 0) r.fail("its last field", `is followed by ${trailing} trailing byte${trailing === 1 ? "" : "s"}`);
    return value;
  } catch (e) {
    if (e instanceof ConcordError && e.code === "Protocol") throw e;
    const reason = e instanceof Error ? e.message : String(e);
    const details = { what, offset: r.offset, length: bytes.byteLength };
    throw new ConcordError("Protocol", `malformed ${what}: ${reason} (near byte ${r.offset} of ${bytes.byteLength})`, details, { cause: e });
  }
}

/** Writes a `uint`; a value that is not a non-negative safe integer is a caller bug. */
export function writeUint(e: encoding.Encoder, n: number, field: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvariantError(`raft codec: ${field} must be a non-negative safe integer, got ${n}`);
  encoding.writeVarUint(e, n);
}

/** Writes a `u8` tag (type, kind): one of the fixed numbers of a tag table. */
export function writeTag(e: encoding.Encoder, tag: number): void {
  encoding.writeUint8(e, tag);
}

export function writeBool(e: encoding.Encoder, b: boolean): void {
  encoding.writeUint8(e, b ? 1 : 0);
}

export function writeBytes(e: encoding.Encoder, bytes: Uint8Array): void {
  encoding.writeVarUint8Array(e, bytes);
}

export function writeOptionalBytes(e: encoding.Encoder, bytes: Uint8Array | null): void {
  writeBool(e, bytes !== null);
  if (bytes !== null) writeBytes(e, bytes);
}

/** Writes a `node`; refuses with `InvalidArgument` an id that {@link invalidNodeIdReason} refuses. */
export function writeNode(e: encoding.Encoder, id: NodeId, field: string): void {
  const reason = invalidNodeIdReason(id);
  if (reason !== null) throw new ConcordError("InvalidArgument", `raft codec: ${field} is not a valid node id: it ${reason}`, { field, id });
  encoding.writeVarString(e, id);
}

/**
 * Reads primitives, checking bounds itself. Every failure is a `Protocol` {@link ConcordError}
 * naming the field (a path like `append.entries[2].index`) and the byte offset.
 */
export class Reader {
  private readonly d: decoding.Decoder;

  constructor(
    private readonly what: string,
    bytes: Uint8Array,
  ) {
    this.d = decoding.createDecoder(bytes);
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.d.pos;
  }

  private get remaining(): number {
    return this.d.arr.length - this.d.pos;
  }

  /** Throws the `Protocol` error for `field`, which starts at byte `at`. */
  fail(field: string, reason: string, at: number = this.d.pos): never {
    const length = this.d.arr.length;
    throw new ConcordError("Protocol", `malformed ${this.what}: ${field} ${reason} (at byte ${at} of ${length})`, {
      what: this.what,
      field,
      offset: at,
      length,
    });
  }

  u8(field: string): number {
    if (this.remaining < 1) this.fail(field, "is missing: the input ends here");
    return decoding.readUint8(this.d);
  }

  bool(field: string): boolean {
    const at = this.d.pos;
    const b = this.u8(field);
    if (b > 1) this.fail(field, `is the byte ${b}, but a boolean is 0 or 1`, at);
    return b === 1;
  }

  /** A varint in its shortest form, at most 2^53 - 1 (so at most 8 bytes of 7 bits). */
  uint(field: string): number {
    const at = this.d.pos;
    const arr = this.d.arr;
    let n = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (this.d.pos >= arr.length) this.fail(field, "is cut off: the input ends inside the number", at);
      const b = arr[this.d.pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (b === 0 && i > 0) this.fail(field, "is an overlong varint (its last byte is zero), not the shortest encoding", at);
        if (!Number.isSafeInteger(n)) this.fail(field, "is above 2^53 - 1", at);
        return n;
      }
      if (i === 7) this.fail(field, "is a varint longer than 8 bytes: above 2^53 - 1", at);
      scale *= 128;
    }
  }

  /** A list's count; every item takes at least one byte, so a count above what remains is refused early. */
  count(field: string): number {
    const at = this.d.pos;
    const n = this.uint(`${field} count`);
    if (n > this.remaining) this.fail(`${field} count`, `is ${n}, but only ${this.remaining} bytes remain`, at);
    return n;
  }

  /** A `bytes`, COPIED out of the input: the result never aliases the decoded buffer. */
  bytes(field: string): Uint8Array {
    const at = this.d.pos;
    const n = this.uint(`${field} length`);
    if (n > this.remaining) this.fail(field, `declares ${n} bytes, but only ${this.remaining} remain`, at);
    return new Uint8Array(decoding.readUint8Array(this.d, n));
  }

  optionalBytes(field: string): Uint8Array | null {
    return this.bool(`${field} present`) ? this.bytes(field) : null;
  }

  node(field: string): NodeId {
    const at = this.d.pos;
    const n = this.uint(`${field} length`);
    if (n === 0) this.fail(field, "is empty, but a node id is a non-empty string", at);
    if (n > MAX_NODE_ID_BYTES) this.fail(field, `is ${n} bytes long, more than a node id's ${MAX_NODE_ID_BYTES}`, at);
    if (n > this.remaining) this.fail(field, `declares ${n} bytes, but only ${this.remaining} remain`, at);
    let id: string;
    try {
      id = UTF8.decode(decoding.readUint8Array(this.d, n));
    } catch {
      return this.fail(field, "is not valid UTF-8", at);
    }
    const reason = invalidNodeIdReason(id);
    if (reason !== null) this.fail(field, `is not a valid node id: it ${reason}`, at);
    return asNodeId(id);
  }
}

/** The reverse of a tag table, for decoding. */
export function tagLookup<K extends string>(tags: { readonly [k in K]: number }): ReadonlyMap<number, K> {
  return new Map(Object.entries<number>(tags).map(([k, tag]) => [tag, k as K]));
}
