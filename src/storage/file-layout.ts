/**
 * Where the file storage puts things: one folder per document under the storage's directory, and
 * in it snapshots, logs and in-progress snapshots numbered by generation.
 *
 * ```
 * <dir>/<docFolderName(doc)>/snap-0000000003.snap   one framed record: the snapshot of generation 3
 *                           /log-0000000003.log    framed records appended after snapshot 3
 *                           /snap-0000000004.tmp   a compaction in progress (deleted by recovery)
 * ```
 *
 * Generation 0 has no snapshot. Files of other shapes are left alone.
 */
import { ConcordError } from "../errors.js";
import type { DocId } from "../ids.js";

/** Longest folder name, in bytes (NAME_MAX of common file systems). */
export const MAX_FOLDER_NAME_BYTES = 255;

/**
 * The folder of `doc`: `encodeURIComponent(doc)` with every character it leaves alone except
 * `a-z 0-9 - _` also percent-escaped (`.` as `%2E`, `A` as `%41`, `*` as `%2A`...). So `.` and `..`
 * can't occur, two names never differ only by case (safe on case-insensitive file systems), and
 * `decodeURIComponent` gives the document name back.
 *
 * @throws ConcordError `InvalidArgument` when the folder name would exceed
 *   {@link MAX_FOLDER_NAME_BYTES} (e.g. about 28 CJK characters or 85 capital letters).
 */
export function docFolderName(doc: DocId): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(doc);
  } catch (cause) {
    throw new ConcordError("InvalidArgument", `file storage: document name ${JSON.stringify(doc)} is not well-formed Unicode`, { doc }, { cause });
  }
  const name = encoded.replace(/%[0-9A-F]{2}|[^a-z0-9_-]/g, (m) => (m.length === 3 ? m : `%${m.charCodeAt(0).toString(16).toUpperCase()}`));
  if (name.length > MAX_FOLDER_NAME_BYTES) {
    throw new ConcordError(
      "InvalidArgument",
      `file storage: the name of document ${JSON.stringify(doc)} escapes to a folder name of ${name.length} bytes, ` +
        `over the file system limit of ${MAX_FOLDER_NAME_BYTES}; use a shorter name`,
      { doc, folderBytes: name.length },
    );
  }
  return name;
}

/** Kinds of file in a document folder. */
export type LogFileKind = "snap" | "log" | "tmp";

const SUFFIX: Record<LogFileKind, string> = { snap: ".snap", log: ".log", tmp: ".tmp" };
const PREFIX: Record<LogFileKind, string> = { snap: "snap-", log: "log-", tmp: "snap-" };
const GEN_DIGITS = 10;
/** Largest generation a 10-digit name holds. */
export const MAX_GENERATION = 9_999_999_999;

/** The file name of generation `gen` of `kind`, e.g. `logFileName("log", 3)` = `log-0000000003.log`. */
export function logFileName(kind: LogFileKind, gen: number): string {
  return `${PREFIX[kind]}${String(gen).padStart(GEN_DIGITS, "0")}${SUFFIX[kind]}`;
}

const FILE_NAME = /^(?:snap-(\d{10})\.(snap|tmp)|log-(\d{10})\.log)$/;

/** The kind and generation of a file name made by {@link logFileName}; undefined for any other name. */
export function parseLogFileName(name: string): { kind: LogFileKind; gen: number } | undefined {
  const m = FILE_NAME.exec(name);
  if (!m) return undefined;
  if (m[3] !== undefined) return { kind: "log", gen: Number(m[3]) };
  return { kind: m[2] === "snap" ? "snap" : "tmp", gen: Number(m[1]) };
}

/** `dir` joined with `name` by one `/`. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/** The directory holding `path` (`.` for a bare name, `/` for a child of the root). */
export function parentPath(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const i = trimmed.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : trimmed.slice(0, i);
}
