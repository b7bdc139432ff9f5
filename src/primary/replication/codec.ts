/**
 * The binary codec of `primary` mode's replication messages ({@link ReplMessage}, STYLE.md section
 * 4): versioned, symmetric (every write has its read, in the same order) and canonical (a decoded
 * message re-encodes to the very bytes it came from). Built from the shared primitives of
 * `src/codec/primitives.ts` (`uint`, `bool`, `bytes`, `id`, `list`).
 *
 * A message is `u8 version (1)`, `u8 type`, `uint epoch`, then the body: the variant's own fields
 * in the order `messages.ts` declares them.
 *
 * | tag | type | body |
 * |---|---|---|
 * | 1 | hello | `history history`, `position last` |
 * | 2 | ack | `uint received`, `uint applied`, `bool gap` |
 * | 3 | welcome | `history history`, `uint last` |
 * | 4 | records | `uint prev`, `list<record> records`, `uint last` |
 * | 5 | snapshot | `history history`, `uint lsn`, `uint common`, `uint offset`, `bytes data`, `bool done`, `uint total` |
 * | 6 | heartbeat | `uint last` |
 * | 7 | epoch | `history history` |
 * | 8 | snapshot-ack | `uint lsn`, `uint offset` |
 *
 * - `history`: `list<epochStart>`; `epochStart`: `uint epoch`, `id primary` (a peer id), `uint startLsn`.
 * - `position`: `uint epoch`, `uint lsn`.
 * - `record`: `uint epoch`, `uint lsn`, `bytes data` (the kv op, opaque here).
 *
 * Only the shape is checked: whether a history is well ordered, records are contiguous or a chunk
 * fits its snapshot is for the cores to judge (they drop what no correct peer sends). Any layout
 * change MUST bump {@link REPL_CODEC_VERSION}: golden bytes in
 * `test/primary/replication/codec.test.ts` fail on an accidental one.
 */
import { decodeVersioned, encodeVersioned, tagLookup, type BinaryFormat, type DecodeLimits, type Reader, type Writer } from "../../codec/primitives.js";
import { assertNever } from "../../errors.js";
import { asPeerId } from "../../ids.js";
import type { ReplMessage, ReplMessageType } from "./messages.js";
import { asEpoch, asLsn, type Epoch, type EpochHistory, type EpochStart, type Position, type ReplRecord } from "./types.js";

/** The format version this code writes, and the only one it reads. */
export const REPL_CODEC_VERSION = 1;

/** The replication wire format, for `encodeVersioned` / `decodeVersioned`. */
export const REPL_FORMAT: BinaryFormat = { name: "replication codec", version: REPL_CODEC_VERSION, idName: "peer id" };

/** Wire tag of each message type. Compile-time exhaustive: a new variant must get a tag here. */
export const REPL_MESSAGE_TAGS: { readonly [T in ReplMessageType]: number } = {
  hello: 1,
  ack: 2,
  welcome: 3,
  records: 4,
  snapshot: 5,
  heartbeat: 6,
  epoch: 7,
  "snapshot-ack": 8,
};

const REPL_MESSAGE_BY_TAG = tagLookup(REPL_MESSAGE_TAGS);

/**
 * Encodes `m` into a fresh buffer; {@link decodeReplMessage} returns a message deep-equal to `m`.
 * Throws `InvalidArgument` for a primary in a history that is not a valid peer id (see
 * `invalidIdReason`), and an `InvariantError` (a caller bug) for an epoch, LSN, offset or total
 * that is not a non-negative safe integer.
 */
export function encodeReplMessage(m: ReplMessage): Uint8Array {
  return encodeVersioned(REPL_FORMAT, (w) => {
    w.tag(REPL_MESSAGE_TAGS[m.type]);
    w.uint(m.epoch, `${m.type}.epoch`);
    writeBody(w, m);
  });
}

function writeBody(w: Writer, m: ReplMessage): void {
  switch (m.type) {
    case "hello":
      writeHistory(w, m.history, "hello.history");
      writePosition(w, m.last, "hello.last");
      return;
    case "ack":
      w.uint(m.received, "ack.received");
      w.uint(m.applied, "ack.applied");
      w.bool(m.gap);
      return;
    case "snapshot-ack":
      w.uint(m.lsn, "snapshot-ack.lsn");
      w.uint(m.offset, "snapshot-ack.offset");
      return;
    case "welcome":
      writeHistory(w, m.history, "welcome.history");
      w.uint(m.last, "welcome.last");
      return;
    case "records":
      w.uint(m.prev, "records.prev");
      w.count(m.records.length, "records.records");
      m.records.forEach((r, i) => writeRecord(w, r, `records.records[${i}]`));
      w.uint(m.last, "records.last");
      return;
    case "snapshot":
      writeHistory(w, m.history, "snapshot.history");
      w.uint(m.lsn, "snapshot.lsn");
      w.uint(m.common, "snapshot.common");
      w.uint(m.offset, "snapshot.offset");
      w.bytes(m.data);
      w.bool(m.done);
      w.uint(m.total, "snapshot.total");
      return;
    case "heartbeat":
      w.uint(m.last, "heartbeat.last");
      return;
    case "epoch":
      writeHistory(w, m.history, "epoch.history");
      return;
    default:
      assertNever(m, "replication message");
  }
}

/**
 * Decodes one message. Throws ONLY a `ConcordError`: `TooLarge` when `bytes` is longer than
 * `limits.maxBytes`; otherwise `Protocol`, naming the field and byte offset, for a version other
 * than 1 (named), an unknown type tag, truncation, trailing bytes, a varint that is overlong or
 * above 2^53 - 1, a bool other than 0/1, a list count above the bytes left, a peer id that is
 * empty, too long or not UTF-8.
 *
 * Byte fields of the result (record data, snapshot data) are COPIES: the message never aliases
 * `bytes`, so the caller may reuse that buffer and a core may retain records.
 */
export function decodeReplMessage(bytes: Uint8Array, limits?: DecodeLimits): ReplMessage {
  return decodeVersioned(REPL_FORMAT, "replication message", bytes, limits, (r): ReplMessage => {
    const at = r.offset;
    const tag = r.u8("type");
    const type = REPL_MESSAGE_BY_TAG.get(tag);
    if (type === undefined) return r.fail("type", `has the unknown tag ${tag} (known: 1 to ${REPL_MESSAGE_BY_TAG.size})`, at);
    return readBody(r, type, asEpoch(r.uint(`${type}.epoch`)));
  });
}

/** Object literals evaluate in source order, which here is the wire order. */
function readBody(r: Reader, type: ReplMessageType, epoch: Epoch): ReplMessage {
  switch (type) {
    case "hello":
      return { type, epoch, history: readHistory(r, "hello.history"), last: readPosition(r, "hello.last") };
    case "ack":
      return {
        type,
        epoch,
        received: asLsn(r.uint("ack.received")),
        applied: asLsn(r.uint("ack.applied")),
        gap: r.bool("ack.gap"),
      };
    case "snapshot-ack":
      return { type, epoch, lsn: asLsn(r.uint("snapshot-ack.lsn")), offset: r.uint("snapshot-ack.offset") };
    case "welcome":
      return { type, epoch, history: readHistory(r, "welcome.history"), last: asLsn(r.uint("welcome.last")) };
    case "records": {
      const prev = asLsn(r.uint("records.prev"));
      const count = r.count("records.records");
      const records: ReplRecord[] = [];
      for (let i = 0; i < count; i++) records.push(readRecord(r, `records.records[${i}]`));
      return { type, epoch, prev, records, last: asLsn(r.uint("records.last")) };
    }
    case "snapshot":
      return {
        type,
        epoch,
        history: readHistory(r, "snapshot.history"),
        lsn: asLsn(r.uint("snapshot.lsn")),
        common: asLsn(r.uint("snapshot.common")),
        offset: r.uint("snapshot.offset"),
        data: r.bytes("snapshot.data"),
        done: r.bool("snapshot.done"),
        total: r.uint("snapshot.total"),
      };
    case "heartbeat":
      return { type, epoch, last: asLsn(r.uint("heartbeat.last")) };
    case "epoch":
      return { type, epoch, history: readHistory(r, "epoch.history") };
    default:
      return assertNever(type, "replication message type");
  }
}

// ---- embedded forms; the WAL (wal-codec.ts) stores histories and records in them too ----

/** Writes a `history`; refuses an invalid primary peer id with `InvalidArgument`. Shape only, like the decoder. */
export function writeHistory(w: Writer, history: EpochHistory, field: string): void {
  w.count(history.length, field);
  history.forEach((h, i) => {
    w.uint(h.epoch, `${field}[${i}].epoch`);
    w.id(h.primary, `${field}[${i}].primary`);
    w.uint(h.startLsn, `${field}[${i}].startLsn`);
  });
}

/** Reads a `history`: any list of well-formed entries (whether it is a valid history is for the caller). */
export function readHistory(r: Reader, field: string): EpochHistory {
  const count = r.count(field);
  const history: EpochStart[] = [];
  for (let i = 0; i < count; i++) {
    history.push({
      epoch: asEpoch(r.uint(`${field}[${i}].epoch`)),
      primary: asPeerId(r.id(`${field}[${i}].primary`)),
      startLsn: asLsn(r.uint(`${field}[${i}].startLsn`)),
    });
  }
  return history;
}

/** Writes a `position`. */
export function writePosition(w: Writer, p: Position, field: string): void {
  w.uint(p.epoch, `${field}.epoch`);
  w.uint(p.lsn, `${field}.lsn`);
}

/** Reads a `position`. */
export function readPosition(r: Reader, field: string): Position {
  return { epoch: asEpoch(r.uint(`${field}.epoch`)), lsn: asLsn(r.uint(`${field}.lsn`)) };
}

/** Writes a `record` (its data as `bytes`). */
export function writeRecord(w: Writer, record: ReplRecord, field: string): void {
  w.uint(record.epoch, `${field}.epoch`);
  w.uint(record.lsn, `${field}.lsn`);
  w.bytes(record.data);
}

/** Reads a `record`; its data is a COPY of the input bytes. */
export function readRecord(r: Reader, field: string): ReplRecord {
  return { epoch: asEpoch(r.uint(`${field}.epoch`)), lsn: asLsn(r.uint(`${field}.lsn`)), data: r.bytes(`${field}.data`) };
}
