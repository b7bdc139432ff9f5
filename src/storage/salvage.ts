/**
 * Salvage of a damaged document folder of the file storage (see `file-layout.ts`, `record.ts`):
 * what `concord salvage` keeps when recovery refuses a folder as `Corrupt`. It reads, and never
 * writes, the folder: the newest snapshot with a valid record, then the logs from its generation on,
 * each record up to the first damage; everything from the damage on (the rest of that file and every
 * later log) is reported as lost, as `redis-check-aof --fix` cuts an append-only file at its first
 * bad record. Records after a damaged one are not trusted: their framing can't be.
 */
import { isConcordError } from "../errors.js";
import { joinPath, logFileName, parseLogFileName } from "./file-layout.js";
import type { FileSystem } from "./fs.js";
import { scanRecords } from "./record.js";

/** Bytes of a file that salvage could not keep, and why. */
export interface LostBytes {
  readonly file: string;
  /** Where in the file the loss starts (0: the whole file). */
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

/** What a folder held that is still good, and what is not. */
export interface Salvaged {
  /** The snapshot's payload, when a snapshot was kept. */
  readonly snapshot: Uint8Array | undefined;
  /** The log records kept, in order (after the snapshot). */
  readonly records: readonly Uint8Array[];
  /** Files read and kept from, in order: `snap-...` then `log-...`. */
  readonly keptFrom: readonly string[];
  readonly lost: readonly LostBytes[];
}

/**
 * Reads what is good in the document folder `folder` (records up to `maxRecordBytes`).
 * @throws ConcordError `Io` from `fs`.
 */
export async function salvageFolder(fs: FileSystem, folder: string, maxRecordBytes: number): Promise<Salvaged> {
  const snaps: number[] = [];
  const logs: number[] = [];
  for (const name of await fs.list(folder)) {
    const parsed = parseLogFileName(name);
    if (parsed?.kind === "snap") snaps.push(parsed.gen);
    else if (parsed?.kind === "log") logs.push(parsed.gen);
  }
  snaps.sort((a, b) => b - a);
  logs.sort((a, b) => a - b);
  const lost: LostBytes[] = [];
  const keptFrom: string[] = [];
  const read = async (name: string): Promise<Uint8Array> => (await fs.read(joinPath(folder, name))) ?? new Uint8Array();

  let snapshot: Uint8Array | undefined;
  let fromGen = 0;
  for (const gen of snaps) {
    const name = logFileName("snap", gen);
    const bytes = await read(name);
    const good = goodRecords(bytes, name, maxRecordBytes);
    if (snapshot === undefined && good.damage === undefined && good.records.length === 1) {
      snapshot = good.records[0];
      fromGen = gen;
      keptFrom.push(name);
    } else if (snapshot === undefined) {
      lost.push({ file: name, offset: 0, bytes: bytes.length, reason: good.damage ?? "not exactly one record" });
    }
  }
  const records: Uint8Array[] = [];
  let damaged = false;
  for (const gen of logs) {
    if (gen < fromGen) continue;
    const name = logFileName("log", gen);
    const bytes = await read(name);
    if (damaged) {
      lost.push({ file: name, offset: 0, bytes: bytes.length, reason: "after the damage in an earlier log" });
      continue;
    }
    const good = goodRecords(bytes, name, maxRecordBytes);
    records.push(...good.records);
    keptFrom.push(name);
    if (good.validLength < bytes.length) {
      lost.push({ file: name, offset: good.validLength, bytes: bytes.length - good.validLength, reason: good.damage ?? "torn tail (an interrupted write)" });
      if (good.damage !== undefined) damaged = true;
    }
  }
  return { snapshot, records, keptFrom, lost };
}

/** The valid records of `bytes` up to the first damage, and where and what that damage is. */
function goodRecords(bytes: Uint8Array, name: string, maxRecordBytes: number): { records: Uint8Array[]; validLength: number; damage: string | undefined } {
  try {
    const scanned = scanRecords(bytes, name, { maxRecordBytes });
    return { records: scanned.records, validLength: scanned.validLength, damage: undefined };
  } catch (error) {
    if (!isConcordError(error, "Corrupt")) throw error;
    const offset = typeof error.details["offset"] === "number" ? error.details["offset"] : 0;
    // Everything before the failing record's header is whole records: scan that prefix.
    const prefix = scanRecords(bytes.subarray(0, offset), name, { maxRecordBytes });
    return { records: prefix.records, validLength: offset, damage: error.message };
  }
}
