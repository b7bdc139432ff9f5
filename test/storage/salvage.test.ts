/** What `salvageFolder` keeps of a damaged document folder, and what it reports lost. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { logFileName } from "../../src/storage/file-layout.js";
import { nodeFileSystem } from "../../src/storage/node-fs.js";
import { encodeRecords } from "../../src/storage/record.js";
import { salvageFolder } from "../../src/storage/salvage.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const enc = new TextEncoder();
const dec = new TextDecoder();
const recordsOf = (...payloads: string[]): Buffer => Buffer.from(encodeRecords(payloads.map((p) => enc.encode(p))));

/** A folder with `files` (name: bytes); returns its path. */
function folder(files: Record<string, Uint8Array>): string {
  const dir = mkdtempSync(join(tmpdir(), "concord-salvage-"));
  dirs.push(dir);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
}

/** `bytes` with the byte at `at` flipped. */
function flip(bytes: Buffer, at: number): Buffer {
  const out = Buffer.from(bytes);
  out[at] = out[at]! ^ 0xff;
  return out;
}

describe("salvageFolder", () => {
  it("keeps the snapshot and the records before the first damage; the rest of that log and every later log are lost", async () => {
    const log1 = recordsOf("a", "b", "c");
    const bAt = recordsOf("a").length; // the second record's header
    const dir = folder({
      [logFileName("snap", 1)]: recordsOf("S"),
      [logFileName("log", 1)]: flip(log1, bAt + 12),
      [logFileName("log", 2)]: recordsOf("d"),
    });
    const found = await salvageFolder(nodeFileSystem(), dir, 1 << 20);
    expect(dec.decode(found.snapshot)).toBe("S");
    expect(found.records.map((r) => dec.decode(r))).toEqual(["a"]);
    expect(found.keptFrom).toEqual([logFileName("snap", 1), logFileName("log", 1)]);
    expect(found.lost).toEqual([
      { file: logFileName("log", 1), offset: bAt, bytes: log1.length - bAt, reason: expect.stringMatching(/checksum/) },
      { file: logFileName("log", 2), offset: 0, bytes: recordsOf("d").length, reason: "after the damage in an earlier log" },
    ]);
  });

  it("falls back to an older snapshot when the newest is damaged, and ignores logs older than the one it uses", async () => {
    const dir = folder({
      [logFileName("snap", 1)]: recordsOf("S1"),
      [logFileName("snap", 2)]: flip(recordsOf("S2"), 13),
      [logFileName("log", 0)]: recordsOf("old"),
      [logFileName("log", 1)]: recordsOf("x"),
      [logFileName("log", 2)]: recordsOf("y"),
      "unrelated.txt": enc.encode("ignored"),
    });
    const found = await salvageFolder(nodeFileSystem(), dir, 1 << 20);
    expect(dec.decode(found.snapshot)).toBe("S1");
    expect(found.records.map((r) => dec.decode(r))).toEqual(["x", "y"]);
    expect(found.lost).toEqual([{ file: logFileName("snap", 2), offset: 0, bytes: recordsOf("S2").length, reason: expect.stringMatching(/checksum/) }]);
  });

  it("cuts a torn tail off (reported) and carries on with later logs; an empty folder has nothing", async () => {
    const whole = recordsOf("a", "b");
    const torn = whole.subarray(0, whole.length - 1);
    const dir = folder({ [logFileName("log", 1)]: torn, [logFileName("log", 2)]: recordsOf("c") });
    const found = await salvageFolder(nodeFileSystem(), dir, 1 << 20);
    expect(found.snapshot).toBeUndefined();
    expect(found.records.map((r) => dec.decode(r))).toEqual(["a", "c"]);
    expect(found.lost).toEqual([{ file: logFileName("log", 1), offset: recordsOf("a").length, bytes: torn.length - recordsOf("a").length, reason: "torn tail (an interrupted write)" }]);
    expect(await salvageFolder(nodeFileSystem(), folder({}), 1 << 20)).toEqual({ snapshot: undefined, records: [], keptFrom: [], lost: [] });
  });
});
