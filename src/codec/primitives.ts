/**
 * The primitives every binary format of Concord is built from (the Raft codec, the replication
 * codec of `primary` mode, the key-value ops and snapshots), and the framing every top-level value
 * shares: `u8 version`, the value, nothing after it. A format supplies its own {@link BinaryFormat}
 * (its version byte, its name in errors, what its ids name); the primitives are the same.
 *
 * - `u8`: one byte. `bool`: a `u8` that is 0 (false) or 1 (true). `tag`: a `u8` from a tag table.
 * - `uint`: unsigned LEB128 varint (lib0 `writeVarUint`), shortest form only, at most 2^53 - 1.
 * - `f64`: 8 bytes, IEEE 754 binary64, big-endian.
 * - `bytes`: `uint length` + the bytes. `opt<X>`: `bool present` + `X` when present.
 * - `string`: `uint length` (in bytes) + well-formed UTF-8 (no lone surrogates on either side).
 * - `id`: a `string` of 1 to 255 UTF-16 code units (see {@link invalidIdReason}): node and peer ids.
 * - `list<X>`: `uint count` + `X` x count.
 *
 * Formats built from these are canonical when each value has exactly one encoding: the primitives
 * are (shortest varints only, 0/1 booleans, fatal UTF-8), so a format is canonical when its own
 * layout leaves no choice (fixed field order, sorted keys where order is free).
 *
 * Writes use lib0 `encoding`; reads are our own over a lib0 decoder because lib0's `readVarUint`
 * accepts overlong varints and `readUint8` does not check bounds.
 */
import * as decoding from "lib0/decoding";
import { ConcordError, InvariantError } from "../errors.js";

/** What distinguishes one binary format from another; the primitives are shared. */
export interface BinaryFormat {
  /** Names the format in encoder errors, e.g. `"raft codec"`. */
  readonly name: string;
  /** The version byte this code writes, and the only one it reads (0..255). */
  readonly version: number;
  /** What the format's ids name, in errors: `"node id"`, `"peer id"`. */
  readonly idName: string;
}

/** Options of every decoder. */
export interface DecodeLimits {
  /** Inputs longer than this many bytes are refused with `TooLarge` before any parsing. */
  readonly maxBytes?: number;
}

/** Longest id in UTF-16 code units (same bound as a `DocId`). */
export const MAX_ID_LENGTH = 255;
/** A UTF-16 code unit takes at most 3 UTF-8 bytes (a surrogate pair: 4 bytes for 2 units). */
const MAX_ID_BYTES = 3 * MAX_ID_LENGTH;
/** With the `u` flag a surrogate pair is one code point, so only a lone surrogate matches. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Fatal: invalid UTF-8 throws. Keeps a leading BOM, so the string re-encodes to the same bytes. */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `String.prototype.isWellFormed` (ES2024: Node 20, current browsers), else null. */
const isWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed ?? null;

/** True when `s` holds a UTF-16 surrogate without its pair (UTF-8 cannot carry one). */
export function hasLoneSurrogate(s: string): boolean {
  return isWellFormed !== null ? !isWellFormed.call(s) : LONE_SURROGATE.test(s);
}

/**
 * Why `id` cannot be an id on the wire, or null when it can: an id is a non-empty string of at most
 * 255 UTF-16 code units without lone surrogates (UTF-8 cannot carry one, so it would not survive a
 * round trip). Branding functions (`asNodeId`, `asPeerId`) do not check: whatever takes an id from
 * a user MUST check it with this, because encoders refuse an invalid one with `InvalidArgument`.
 */
export function invalidIdReason(id: string): string | null {
  if (id.length === 0) return "is empty";
  if (id.length > MAX_ID_LENGTH) return `is ${id.length} UTF-16 code units long, more than ${MAX_ID_LENGTH}`;
  if (hasLoneSurrogate(id)) return "contains a lone surrogate, which UTF-8 cannot encode";
  return null;
}

/** Encodes one top-level value of `format`: its version byte, then what `write` writes. */
export function encodeVersioned(format: BinaryFormat, write: (w: Writer) => void): Uint8Array {
  const w = new Writer(format);
  try {
    w.u8(format.version);
    write(w);
    return w.toBytes();
  } finally {
    w.release();
  }
}

/**
 * Decodes one top-level value of `format`, named `what` in errors (`"raft message"`): checks the
 * size limit and the version byte, runs `read`, refuses trailing bytes. Throws ONLY a
 * {@link ConcordError} (`TooLarge` or `Protocol`); anything else thrown inside (a bug) is wrapped
 * as `Protocol` so the decoder's contract holds.
 */
export function decodeVersioned<T>(
  format: BinaryFormat,
  what: string,
  bytes: Uint8Array,
  limits: DecodeLimits | undefined,
  read: (r: Reader) => T,
): T {
  const maxBytes = limits?.maxBytes;
  if (maxBytes !== undefined && bytes.byteLength > maxBytes) {
    throw new ConcordError("TooLarge", `${what} of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes`, {
      what,
      bytes: bytes.byteLength,
      maxBytes,
    });
  }
  const r = new Reader(format, what, bytes);
  try {
    const version = r.u8("version");
    if (version !== format.version) {
      r.fail("version", `is ${version}, but this code reads only version ${format.version} (a peer or file from another release?)`, 0);
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

/** Scratch buffers of released writers, reused by the next ones (a stack: encodes may nest). */
const scratch: Uint8Array[] = [];
/** A writer's first buffer; it doubles as needed. */
const FIRST_BYTES = 1024;
/** Larger buffers are dropped on release rather than kept for reuse. */
const KEEP_BYTES = 1 << 20;
const MAX_SCRATCH = 8;
/** What a released writer holds: nothing it could write into. */
const RELEASED = new Uint8Array(0);
const UTF8_ENCODER = new TextEncoder();
/** A string of at most this many UTF-16 units takes at most 3x as many UTF-8 bytes, so its length fits in 2 varint bytes. */
const SHORT_STRING = 5_000;

/**
 * Writes primitives into a growing buffer (a reused scratch buffer: encoding a small value costs
 * one allocation, its result). A value the matching {@link Reader} method would refuse is a caller
 * bug ({@link InvariantError}), except an invalid id, which may come from a user
 * (`InvalidArgument`). Errors name the format and the field. The byte layout is lib0's
 * (`lib0/encoding`: LEB128 varints, big-endian floats, length-prefixed UTF-8).
 */
export class Writer {
  private buf: Uint8Array;
  private pos = 0;
  private view: DataView | null = null;

  constructor(private readonly format: BinaryFormat) {
    this.buf = scratch.pop() ?? new Uint8Array(FIRST_BYTES);
  }

  /** Throws the {@link InvariantError} for a value of `field` this format cannot carry (a caller bug). */
  refuse(field: string, reason: string): never {
    throw new InvariantError(`${this.format.name}: ${field} ${reason}`);
  }

  /** The bytes written so far (a fresh copy). */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** Hands the buffer back for reuse; the writer must not be used again. */
  release(): void {
    if (this.buf.length <= KEEP_BYTES && scratch.length < MAX_SCRATCH) scratch.push(this.buf);
    this.buf = RELEASED;
    this.view = null;
  }

  /** Room for `n` more bytes. */
  private room(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(need, this.buf.length * 2));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = null;
  }

  u8(byte: number): void {
    this.room(1);
    this.buf[this.pos++] = byte;
  }

  /** A `u8` tag (type, kind): one of the fixed numbers of a tag table. */
  tag(tag: number): void {
    this.u8(tag);
  }

  bool(b: boolean): void {
    this.u8(b ? 1 : 0);
  }

  /** A `uint`; a value that is not a non-negative safe integer is a caller bug. */
  uint(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0) this.refuse(field, `must be a non-negative safe integer, got ${n}`);
    this.varUint(n);
  }

  private varUint(n: number): void {
    this.room(8); // 2^53 - 1 takes 8 bytes
    const buf = this.buf;
    let pos = this.pos;
    while (n > 0x7f) {
      buf[pos++] = 0x80 | (n & 0x7f);
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** A list's count (the length of an array, so always valid). */
  count(n: number, field: string): void {
    this.uint(n, `${field} count`);
  }

  /** An `f64`; NaN and infinities are a caller bug (no format of ours carries them). */
  f64(n: number, field: string): void {
    if (!Number.isFinite(n)) this.refuse(field, `must be a finite number, got ${n}`);
    this.room(8);
    this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.view.setFloat64(this.pos, n, false);
    this.pos += 8;
  }

  bytes(bytes: Uint8Array): void {
    this.varUint(bytes.length);
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  optionalBytes(bytes: Uint8Array | null): void {
    this.bool(bytes !== null);
    if (bytes !== null) this.bytes(bytes);
  }

  /** A `string`; one with a lone surrogate is a caller bug (UTF-8 would turn it into U+FFFD). */
  string(s: string, field: string): void {
    if (hasLoneSurrogate(s)) this.refuse(field, "contains a lone UTF-16 surrogate, which UTF-8 cannot encode");
    this.utf8(s);
  }

  /** An `id`; refuses with `InvalidArgument` an id that {@link invalidIdReason} refuses. */
  id(id: string, field: string): void {
    const reason = invalidIdReason(id);
    if (reason !== null) {
      throw new ConcordError("InvalidArgument", `${this.format.name}: ${field} is not a valid ${this.format.idName}: it ${reason}`, { field, id });
    }
    this.utf8(id);
  }

  /** `uint` UTF-8 length, then the UTF-8 bytes of `s` (well-formed: checked by the callers). */
  private utf8(s: string): void {
    if (s.length <= SHORT_STRING) {
      // Encode in place behind a 2-byte length slot (up to 16383 bytes), then fix the slot up.
      this.room(2 + 3 * s.length);
      const start = this.pos + 2;
      const { written } = UTF8_ENCODER.encodeInto(s, this.buf.subarray(start));
      if (written < 0x80) {
        this.buf[this.pos] = written;
        this.buf.copyWithin(this.pos + 1, start, start + written);
        this.pos += 1 + written;
      } else {
        this.buf[this.pos] = 0x80 | (written & 0x7f);
        this.buf[this.pos + 1] = written >> 7;
        this.pos = start + written;
      }
      return;
    }
    this.bytes(UTF8_ENCODER.encode(s));
  }
}

/**
 * Reads primitives, checking bounds itself. Every failure is a `Protocol` {@link ConcordError}
 * naming the value, the field (a path like `append.entries[2].index`) and the byte offset.
 */
export class Reader {
  private readonly d: decoding.Decoder;

  constructor(
    private readonly format: BinaryFormat,
    private readonly what: string,
    bytes: Uint8Array,
  ) {
    this.d = decoding.createDecoder(bytes);
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.d.pos;
  }

  /** Bytes left to read. */
  get remaining(): number {
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

  /** An `f64`. Any bit pattern is returned (NaN included): the format decides what it accepts. */
  f64(field: string): number {
    if (this.remaining < 8) this.fail(field, `is cut off: a float takes 8 bytes, but only ${this.remaining} remain`);
    const arr = this.d.arr;
    const n = new DataView(arr.buffer, arr.byteOffset + this.d.pos, 8).getFloat64(0, false);
    this.d.pos += 8;
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

  /** A `string` of well-formed UTF-8 (so without lone surrogates). */
  string(field: string): string {
    const at = this.d.pos;
    const n = this.uint(`${field} length`);
    if (n > this.remaining) this.fail(field, `declares ${n} bytes, but only ${this.remaining} remain`, at);
    return this.utf8(field, n, at);
  }

  /** An `id` (see {@link invalidIdReason}); the caller brands it. */
  id(field: string): string {
    const at = this.d.pos;
    const { idName } = this.format;
    const n = this.uint(`${field} length`);
    if (n === 0) this.fail(field, `is empty, but a ${idName} is a non-empty string`, at);
    if (n > MAX_ID_BYTES) this.fail(field, `is ${n} bytes long, more than a ${idName}'s ${MAX_ID_BYTES}`, at);
    if (n > this.remaining) this.fail(field, `declares ${n} bytes, but only ${this.remaining} remain`, at);
    const id = this.utf8(field, n, at);
    const reason = invalidIdReason(id);
    if (reason !== null) this.fail(field, `is not a valid ${idName}: it ${reason}`, at);
    return id;
  }

  /** The next `n` bytes (already bounds-checked) as fatal UTF-8. */
  private utf8(field: string, n: number, at: number): string {
    try {
      return UTF8.decode(decoding.readUint8Array(this.d, n));
    } catch {
      return this.fail(field, "is not valid UTF-8", at);
    }
  }
}

/** The reverse of a tag table, for decoding. */
export function tagLookup<K extends string>(tags: { readonly [k in K]: number }): ReadonlyMap<number, K> {
  return new Map(Object.entries<number>(tags).map(([k, tag]) => [tag, k as K]));
}
