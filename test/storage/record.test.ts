import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConcordError } from "../../src/errors.js";
import { crc32, encodeRecord, encodeRecords, RECORD_HEADER_BYTES, scanRecords } from "../../src/storage/record.js";
import { checkProperty } from "../property/prop.js";
import { concat } from "./bytes.js";

const limits = { maxRecordBytes: 1024 };
const enc = new TextEncoder();


function corruptionOf(run: () => unknown): ConcordError {
  try {
    run();
  } catch (e) {
    if (e instanceof ConcordError && e.code === "Corrupt") return e;
    throw e;
  }
  throw new Error("expected a Corrupt error");
}

describe("crc32", () => {
  it("matches the IEEE check values", () => {
    expect(crc32(enc.encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(enc.encode("The quick brown fox jumps over the lazy dog"))).toBe(0x414fa339);
  });

  it("equals the bit-at-a-time definition on any bytes, of any length and alignment", async () => {
    const reference = (bytes: Uint8Array): number => {
      let c = 0xffffffff;
      for (const b of bytes) {
        c ^= b;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    await checkProperty(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 7 }), (bytes, skip) => {
        const view = bytes.subarray(Math.min(skip, bytes.length)); // an offset view, as framing passes
        expect(crc32(view)).toBe(reference(view));
      }),
    );
  });
});

describe("record framing", () => {
  it("frames as [length][crc(payload)][crc(header)] little-endian, then the payload", () => {
    const framed = encodeRecord(enc.encode("hi"));
    const view = new DataView(framed.buffer);
    expect(framed.length).toBe(RECORD_HEADER_BYTES + 2);
    expect(view.getUint32(0, true)).toBe(2);
    expect(view.getUint32(4, true)).toBe(crc32(enc.encode("hi")));
    expect(view.getUint32(8, true)).toBe(crc32(framed.subarray(0, 8)));
    expect(framed.subarray(12)).toEqual(enc.encode("hi"));
  });

  it("property: scanning encoded records gives them back, with nothing torn", async () => {
    await checkProperty(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (payloads) => {
        const bytes = encodeRecords(payloads);
        const scanned = scanRecords(bytes, "f", limits);
        expect(scanned.records).toEqual(payloads);
        expect(scanned.validLength).toBe(bytes.length);
        expect(scanned.tornTail).toBe(false);
      }),
    );
  });

  it("property: any prefix of a write scans as the complete records before the cut plus a torn tail", async () => {
    await checkProperty(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 32 }), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (payloads, cutSeed) => {
          const bytes = encodeRecords(payloads);
          const cut = cutSeed % (bytes.length + 1);
          const scanned = scanRecords(bytes.subarray(0, cut), "f", limits);
          let whole = 0;
          let end = 0;
          while (whole < payloads.length && end + RECORD_HEADER_BYTES + payloads[whole]!.length <= cut) {
            end += RECORD_HEADER_BYTES + payloads[whole]!.length;
            whole++;
          }
          expect(scanned.records).toEqual(payloads.slice(0, whole));
          expect(scanned.validLength).toBe(end);
          expect(scanned.tornTail).toBe(cut !== end);
        },
      ),
    );
  });

  it("property: a write cut inside a header, then any zero fill, scans as the records before it plus a torn tail", async () => {
    await checkProperty(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 32 }), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        fc.integer({ min: 0, max: RECORD_HEADER_BYTES - 1 }),
        fc.integer({ min: 0, max: 300 }),
        (payloads, recordSeed, cutInHeader, zeros) => {
          const torn = recordSeed % payloads.length;
          const bytes = encodeRecords(payloads);
          const start = payloads.slice(0, torn).reduce((n, p) => n + RECORD_HEADER_BYTES + p.length, 0);
          const filled = concat(bytes.subarray(0, start + cutInHeader), new Uint8Array(zeros));
          // A header whose cut-off bytes were zeros anyway is the complete header (and judged as one).
          const header = new Uint8Array(RECORD_HEADER_BYTES);
          header.set(filled.subarray(start, start + RECORD_HEADER_BYTES));
          fc.pre(!header.every((b, i) => b === bytes[start + i]));
          const scanned = scanRecords(filled, "f", limits);
          expect(scanned.records).toEqual(payloads.slice(0, torn));
          expect(scanned.validLength).toBe(start);
          expect(scanned.tornTail).toBe(filled.length > start);
        },
      ),
    );
  });

  it("property: a complete header and a short payload, then zeros covering the announced length, is Corrupt at that record", async () => {
    // The payload ends in a non-zero byte, so the zero fill can't rebuild it by chance.
    const payloadArb = fc.uint8Array({ minLength: 1, maxLength: 32 }).filter((p) => p[p.length - 1] !== 0);
    await checkProperty(
      fc.property(
        fc.array(payloadArb, { minLength: 1, maxLength: 8 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 300 }),
        (payloads, recordSeed, cutSeed, extraZeros) => {
          const torn = recordSeed % payloads.length;
          const payload = payloads[torn]!;
          const written = cutSeed % payload.length;
          const bytes = encodeRecords(payloads);
          const start = payloads.slice(0, torn).reduce((n, p) => n + RECORD_HEADER_BYTES + p.length, 0);
          const cut = start + RECORD_HEADER_BYTES + written;
          const filled = concat(bytes.subarray(0, cut), new Uint8Array(payload.length - written + extraZeros));
          const e = corruptionOf(() => scanRecords(filled, "f", limits));
          expect(e.details).toEqual({ file: "f", offset: start });
        },
      ),
    );
  });

  it("treats a short header followed by zeros as torn, and a short header followed by data as Corrupt", () => {
    const good = encodeRecords([enc.encode("a"), enc.encode("b")]);
    const next = encodeRecord(enc.encode("next"));
    const scanned = scanRecords(concat(good, next.subarray(0, 7), new Uint8Array(4096)), "f", limits);
    expect(scanned).toMatchObject({ records: [enc.encode("a"), enc.encode("b")], validLength: good.length, tornTail: true });
    const withData = concat(good, next.subarray(0, 7), new Uint8Array(4096), new Uint8Array([1]));
    expect(corruptionOf(() => scanRecords(withData, "f", limits)).details).toEqual({ file: "f", offset: good.length });
    const dataRightAfterHeader = concat(good, next.subarray(0, 7), new Uint8Array(RECORD_HEADER_BYTES - 7), new Uint8Array([1]));
    expect(corruptionOf(() => scanRecords(dataRightAfterHeader, "f", limits)).details).toEqual({ file: "f", offset: good.length });
  });

  it("treats a zero-filled tail (preallocated space) as torn, however long", () => {
    const good = encodeRecords([enc.encode("a"), enc.encode("b")]);
    const scanned = scanRecords(concat(good, new Uint8Array(4096)), "f", limits);
    expect(scanned.records).toEqual([enc.encode("a"), enc.encode("b")]);
    expect(scanned).toMatchObject({ validLength: good.length, tornTail: true });
  });

  it("reports a damaged header followed by data as Corrupt, naming file and offset", () => {
    const first = encodeRecord(enc.encode("first"));
    const second = encodeRecord(enc.encode("second"));
    second[1]! ^= 0x40;
    const e = corruptionOf(() => scanRecords(concat(first, second), "/data/log-1.log", limits));
    expect(e.details).toEqual({ file: "/data/log-1.log", offset: first.length });
    expect(e.message).toContain("/data/log-1.log");
    expect(e.message).toContain(`byte ${first.length}`);
  });

  it("reports a complete record with a bad payload checksum as Corrupt even at the very end", () => {
    const first = encodeRecord(enc.encode("first"));
    const last = encodeRecord(enc.encode("last"));
    last[last.length - 1]! ^= 1;
    const e = corruptionOf(() => scanRecords(concat(first, last), "f", limits));
    expect(e.details).toEqual({ file: "f", offset: first.length });
  });

  it("reports a valid header announcing more than maxRecordBytes as Corrupt", () => {
    const big = encodeRecord(new Uint8Array(2000));
    const e = corruptionOf(() => scanRecords(big, "f", limits));
    expect(e.details).toEqual({ file: "f", offset: 0 });
    expect(e.message).toContain("2000");
  });

  it("accepts empty payloads", () => {
    const bytes = encodeRecords([new Uint8Array(0), enc.encode("x"), new Uint8Array(0)]);
    expect(scanRecords(bytes, "f", limits).records).toEqual([new Uint8Array(0), enc.encode("x"), new Uint8Array(0)]);
  });
});
