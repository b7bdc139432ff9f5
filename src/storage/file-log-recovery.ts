/**
 * Recovery of one document folder of the file storage (see `file-layout.ts` for the layout and
 * `record.ts` for the crash model): what was durable before a crash, the torn tail cut off, the
 * leftovers of an interrupted compaction removed, and damage refused with `Corrupt`.
 */
import { ConcordError } from "../errors.js";
import { joinPath, logFileName, parseLogFileName, parentPath } from "./file-layout.js";
import type { FileSystem } from "./fs.js";
import { RECORD_HEADER_BYTES, scanRecords } from "./record.js";
import type { StoredLog } from "./storage.js";

/** The recovered state of a document folder, ready for appends. */
export interface RecoveredFolder {
  readonly log: StoredLog;
  /** Generation of the snapshot `log.snapshot` came from (0 = none). */
  readonly snapshotGen: number;
  /** Generations of the log files holding `log.records`, ascending; the last one takes appends. */
  readonly logGens: readonly number[];
}

/**
 * Recovers (creating if needed) the document folder `folder`, whose parent directory MUST exist.
 *
 * Steps, in order: create the folder and fsync its parent so the folder itself survives a crash; delete `*.tmp`; read the highest snapshot s, which MUST hold exactly one
 * valid record; delete snapshots and logs older than s (an interrupted compaction); scan logs of
 * generation >= s in order, cutting a torn tail off the LAST one (truncate + fsync); create an
 * empty `log-s` if there is no log, fsyncing the folder.
 *
 * @throws ConcordError `Corrupt` (with `details.file` and `details.offset`) for a damaged snapshot,
 *   a checksum failure anywhere, or a torn tail in a log that is not the last one; `Io` from `fs`.
 */
export async function recoverFolder(fs: FileSystem, folder: string, maxRecordBytes: number): Promise<RecoveredFolder> {
  await fs.mkdirp(folder);
  await fs.syncDir(parentPath(folder));

  const snaps: number[] = [];
  const logs: number[] = [];
  const obsolete: string[] = [];
  for (const name of await fs.list(folder)) {
    const parsed = parseLogFileName(name);
    if (parsed === undefined) continue;
    if (parsed.kind === "tmp") obsolete.push(name);
    else (parsed.kind === "snap" ? snaps : logs).push(parsed.gen);
  }
  const snapshotGen = Math.max(0, ...snaps);
  for (const gen of snaps) if (gen < snapshotGen) obsolete.push(logFileName("snap", gen));
  for (const gen of logs) if (gen < snapshotGen) obsolete.push(logFileName("log", gen));

  const snapshot = snapshotGen > 0 ? await readSnapshot(fs, joinPath(folder, logFileName("snap", snapshotGen)), maxRecordBytes) : undefined;

  for (const name of obsolete) await fs.remove(joinPath(folder, name));
  if (obsolete.length > 0) await fs.syncDir(folder);

  const logGens = logs.filter((gen) => gen >= snapshotGen).sort((a, b) => a - b);
  const records: Uint8Array[] = [];
  for (const [i, gen] of logGens.entries()) {
    const path = joinPath(folder, logFileName("log", gen));
    const bytes = (await fs.read(path)) ?? new Uint8Array(0);
    const scanned = scanRecords(bytes, path, { maxRecordBytes });
    if (scanned.tornTail) {
      if (i < logGens.length - 1) {
        throw new ConcordError(
          "Corrupt",
          `${path}: the log ends in an incomplete record at byte ${scanned.validLength} but a newer log follows it, ` +
            "so records were lost from the middle of the history; restore it from a replica or a backup",
          { file: path, offset: scanned.validLength },
        );
      }
      await fs.truncate(path, scanned.validLength);
      await fs.sync(path);
    }
    for (const r of scanned.records) records.push(r);
  }

  if (logGens.length === 0) {
    // An empty file needs no fsync of its own: only its directory entry must be durable.
    await fs.write(joinPath(folder, logFileName("log", snapshotGen)), new Uint8Array(0));
    await fs.syncDir(folder);
    logGens.push(snapshotGen);
  }
  return { log: { snapshot, records }, snapshotGen, logGens };
}

/**
 * Reads a folder that this process's storage wrote and {@link recoverFolder} recovered: snapshot
 * `snapshotGen` (0: none) and the logs `logGens`, which MUST end in complete records (nothing is
 * being written to them).
 * @throws ConcordError `Corrupt` for any damage, a torn tail included; `Io` from `fs`.
 */
export async function readFolder(
  fs: FileSystem,
  folder: string,
  snapshotGen: number,
  logGens: readonly number[],
  maxRecordBytes: number,
): Promise<StoredLog> {
  const snapshot = snapshotGen > 0 ? await readSnapshot(fs, joinPath(folder, logFileName("snap", snapshotGen)), maxRecordBytes) : undefined;
  const records: Uint8Array[] = [];
  for (const gen of logGens) {
    const path = joinPath(folder, logFileName("log", gen));
    const scanned = scanRecords((await fs.read(path)) ?? new Uint8Array(0), path, { maxRecordBytes });
    if (scanned.tornTail) {
      throw new ConcordError(
        "Corrupt",
        `${path}: the log ends in an incomplete record at byte ${scanned.validLength} although nothing is writing to it; ` +
          "another process may be using this data folder",
        { file: path, offset: scanned.validLength },
      );
    }
    for (const r of scanned.records) records.push(r);
  }
  return { snapshot, records };
}

async function readSnapshot(fs: FileSystem, path: string, maxRecordBytes: number): Promise<Uint8Array> {
  const bytes = (await fs.read(path)) ?? new Uint8Array(0);
  const scanned = scanRecords(bytes, path, { maxRecordBytes });
  const [first] = scanned.records;
  if (first !== undefined && scanned.records.length === 1 && !scanned.tornTail) return first;
  const offset = first === undefined ? 0 : RECORD_HEADER_BYTES + first.length;
  throw new ConcordError(
    "Corrupt",
    `${path}: a snapshot must be exactly one complete record, but ${first === undefined ? "none starts" : "more follows"} ` +
      `at byte ${offset}; restore it from a replica or a backup`,
    { file: path, offset },
  );
}
