/**
 * Record framing of the file log (DESIGN.md section 3, "Storage"). Pure: bytes in, bytes out.
 *
 * A record on disk is a 12-byte header followed by its payload, all integers little-endian:
 *
 * ```
 * [u32 payloadLength][u32 crc32(payload)][u32 crc32(the 8 header bytes before it)] payload...
 * ```
 *
 * Crash model (what {@link scanRecords} relies on): a crash tears a write only as a PREFIX of the
 * bytes written; it never reorders, skips or scrambles bytes inside a write, and bytes that were
 * fsynced are never torn. A file system that preallocated the space may leave zeros after the
 * written prefix. So after the last complete record, a crash leaves either nothing or one of
 * these torn tails, which recovery cuts off:
 *
 * - fewer than 12 bytes (a short header, possibly followed by zeros that still fit in 12 bytes);
 * - a header failing its checksum, with nothing but zeros after its first 12 bytes (a short header
 *   followed by preallocated space; zeros alone are the case of an empty prefix);
 * - a complete, valid header announcing a payload that runs past the end of the file.
 *
 * Everything else is `Corrupt`, never dropped silently: a header failing its checksum with a
 * non-zero byte past its first 12 bytes, a valid header announcing more than `maxRecordBytes`,
 * and a complete payload failing its checksum. The last rule holds even when nothing but zeros
 * follow, i.e. for a complete header, a short payload and then zero fill covering the announced
 * length. That can't be told apart from damage to the last acknowledged record (Yjs updates
 * legitimately end in zero bytes, so zeros don't show where a write stopped), so recovery refuses
 * rather than guess: restore from a replica or a backup. (A header torn only in bytes that were
 * zero anyway is byte for byte the complete header, and is judged as one.)
 */
import { ConcordError } from "../errors.js";

/** Bytes of the header in front of every payload. */
export const RECORD_HEADER_BYTES = 12;

/** Slicing-by-4 tables: `T[0]` is the classic byte table, `T[k][n]` is `T[0][n]` shifted through k more zero bytes. */
const CRC_TABLES = makeCrcTables();

function makeCrcTables(): Uint32Array[] {
  const t = [0, 1, 2, 3].map(() => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 4; k++) t[k]![n] = (t[0]![t[k - 1]![n]! & 0xff]! ^ (t[k - 1]![n]! >>> 8)) >>> 0;
  }
  return t;
}

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320; zlib's and PNG's) of `bytes`, as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array): number {
  const [t0, t1, t2, t3] = CRC_TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = 0xffffffff;
  let i = 0;
  // Four bytes per step (slicing-by-4), then the tail a byte at a time.
  for (const end = bytes.length - 3; i < end; i += 4) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c = t3[c & 0xff]! ^ t2[(c >>> 8) & 0xff]! ^ t1[(c >>> 16) & 0xff]! ^ t0[c >>> 24]!;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Writes the framed `payload` into `out` (seen through `view`) at `offset`; returns the offset after it. */
function writeRecord(out: Uint8Array, view: DataView, offset: number, payload: Uint8Array): number {
  view.setUint32(offset, payload.length, true);
  view.setUint32(offset + 4, crc32(payload), true);
  view.setUint32(offset + 8, crc32(out.subarray(offset, offset + 8)), true);
  out.set(payload, offset + RECORD_HEADER_BYTES);
  return offset + RECORD_HEADER_BYTES + payload.length;
}

/**
 * Frames one payload: header then a copy of `payload`. The result is a fresh array the caller owns.
 * `payload` MUST be shorter than 2^32 bytes (callers enforce a much lower `maxRecordBytes`).
 */
export function encodeRecord(payload: Uint8Array): Uint8Array {
  return encodeRecords([payload]);
}

/** Frames several payloads back to back into one fresh array (one write for a group commit). */
export function encodeRecords(payloads: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of payloads) size += RECORD_HEADER_BYTES + p.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let offset = 0;
  for (const p of payloads) offset = writeRecord(out, view, offset, p);
  return out;
}

/** What {@link scanRecords} found in a file. */
export interface ScannedRecords {
  /** Payloads of the complete, valid records, in file order: views into the scanned bytes (not copies). */
  readonly records: Uint8Array[];
  /** Bytes from the start covered by complete valid records: where a torn tail begins, or the file length. */
  readonly validLength: number;
  /** True when bytes after `validLength` are an incomplete last write (or zero fill) to cut off. */
  readonly tornTail: boolean;
}

/** Limits applied while scanning. */
export interface ScanOptions {
  /** A header announcing a longer payload is `Corrupt` (it can't have been written by us). */
  readonly maxRecordBytes: number;
}

/**
 * Reads the framed records of one file from offset 0, under the prefix-tear crash model of this
 * module:
 *
 * - fewer than 12 bytes left: torn tail;
 * - header checksum fails: torn tail if every byte from this record's offset + 12 to the end of
 *   the file is 0 (a partial header, then preallocated space), else `Corrupt`;
 * - header announces more than `maxRecordBytes`: `Corrupt`;
 * - payload runs past the end: torn tail;
 * - complete payload whose checksum fails: `Corrupt`, wherever it is, zeros after it or not.
 *
 * Deciding whether a torn tail is acceptable (only in the last log) is the caller's business.
 *
 * @param fileName named in a `Corrupt` error's message and `details.file`, with `details.offset`
 *   (the byte offset of the failing record's header).
 * @throws ConcordError `Corrupt` as described above.
 */
export function scanRecords(bytes: Uint8Array, fileName: string, options: ScanOptions): ScannedRecords {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Uint8Array[] = [];
  let offset = 0;
  for (;;) {
    const remaining = bytes.length - offset;
    if (remaining === 0) return { records, validLength: offset, tornTail: false };
    const torn = { records, validLength: offset, tornTail: true };
    if (remaining < RECORD_HEADER_BYTES) return torn;
    const length = view.getUint32(offset, true);
    const payloadCrc = view.getUint32(offset + 4, true);
    const headerCrc = view.getUint32(offset + 8, true);
    if (crc32(bytes.subarray(offset, offset + 8)) !== headerCrc) {
      // Only the header can be a partial write here: a non-zero byte past it means data follows.
      if (allZero(bytes, offset + RECORD_HEADER_BYTES)) return torn;
      throw corrupt(fileName, offset, "a record header fails its checksum");
    }
    if (length > options.maxRecordBytes) {
      throw corrupt(fileName, offset, `a record header announces ${length} bytes, over the limit of ${options.maxRecordBytes}`);
    }
    const end = offset + RECORD_HEADER_BYTES + length;
    if (end > bytes.length) return torn;
    const payload = bytes.subarray(offset + RECORD_HEADER_BYTES, end);
    if (crc32(payload) !== payloadCrc) throw corrupt(fileName, offset, "a complete record fails its checksum");
    records.push(payload);
    offset = end;
  }
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function corrupt(file: string, offset: number, what: string): ConcordError {
  return new ConcordError(
    "Corrupt",
    `${file}: ${what} at byte ${offset}. The stored data was damaged after it was written; ` +
      "restore it from a replica or a backup",
    { file, offset },
  );
}
