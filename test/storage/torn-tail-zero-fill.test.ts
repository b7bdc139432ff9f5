/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (MEDIUM): recovery refuses to open (`Corrupt`) after a crash that its own crash model
 * declares legal, so a store can become unopenable after an ordinary power cut.
 *
 * Where: src/storage/record.ts. `scanRecords` accepted zero fill only when it started exactly at a
 * record boundary, so a short header followed by preallocated zeros ("a record header fails its
 * checksum") was Corrupt, although the module documentation named it a legal crash outcome.
 *
 * Resolution:
 * - A short header followed by zeros is a torn tail: when a header fails its checksum and every
 *   non-zero byte from its offset to the end of the file lies within its first 12 bytes, recovery
 *   cuts it off (the first and third tests).
 * - A complete header and a short payload followed by zeros covering the announced length stays
 *   Corrupt, by decision (the second test). A full valid header with a full-length payload whose
 *   checksum fails can't come from a prefix tear alone, and Yjs updates legitimately end in zero
 *   bytes, so zero fill there can't be told apart from damage to the last ACKNOWLEDGED record.
 *   Cutting it off could silently drop an acknowledged write; recovery refuses rather than guess.
 *   The record.ts module documentation states these rules.
 */
import { describe, expect, it } from "vitest";
import { isConcordError, type ConcordError } from "../../src/errors.js";
import { asDocId } from "../../src/ids.js";
import { seededRng } from "../../src/rng.js";
import { SimDisk } from "../../src/sim/sim-disk.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { encodeRecords, RECORD_HEADER_BYTES, scanRecords } from "../../src/storage/record.js";
import { concat } from "./bytes.js";

const enc = new TextEncoder();
const limits = { maxRecordBytes: 1 << 20 };


const good = encodeRecords([enc.encode("first"), enc.encode("second")]);
const next = encodeRecords([enc.encode("the record being written when the power went out")]);

describe("a torn header followed by preallocated zeros is a torn tail; a full-length payload failing its checksum is not", () => {
  it("a short header followed by zeros", () => {
    const bytes = concat(good, next.subarray(0, 5), new Uint8Array(4096));
    const scanned = scanRecords(bytes, "log", limits);
    expect(scanned).toMatchObject({ validLength: good.length, tornTail: true });
    expect(scanned.records).toHaveLength(2);
  });

  it("a complete header and a short payload followed by zeros past the announced length stays Corrupt (decided)", () => {
    const bytes = concat(good, next.subarray(0, RECORD_HEADER_BYTES + 10), new Uint8Array(4096));
    let error: unknown;
    try {
      scanRecords(bytes, "log", limits);
    } catch (e) {
      error = e;
    }
    expect(isConcordError(error, "Corrupt"), `expected Corrupt, got ${String(error)}`).toBe(true);
    expect((error as ConcordError).details).toEqual({ file: "log", offset: good.length });
  });

  it("file storage opens such a log and keeps the complete records", async () => {
    const disk = new SimDisk({ rng: seededRng(1) });
    const fs = disk.mount();
    const folder = "/data/d";
    await fs.mkdirp(folder);
    const log = `${folder}/log-0000000000.log`;
    await fs.write(log, concat(good, next.subarray(0, 5), new Uint8Array(512)));
    await fs.sync(log);
    await fs.syncDir(folder);

    const storage = await fileStorage("/data", { fs }).open(asDocId("d"));
    const loaded = await storage.load();
    expect(loaded.records.map((r) => new TextDecoder().decode(r))).toEqual(["first", "second"]);
    await storage.close();
  });
});
