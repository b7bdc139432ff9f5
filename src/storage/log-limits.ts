/**
 * The size limits and argument checks every storage adapter applies the same way, so the contract
 * suite sees one behaviour whatever the adapter.
 */
import { ConcordError } from "../errors.js";
import type { DocId } from "../ids.js";

/** Default `compactAfterBytes`: 4 MiB of records since the last snapshot. */
export const DEFAULT_COMPACT_AFTER_BYTES = 4 * 1024 * 1024;
/** Default `maxRecordBytes`: 64 MiB per record or snapshot. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** The largest `maxRecordBytes` an adapter accepts: the record header stores lengths as u32. */
export const MAX_RECORD_BYTES_LIMIT = 0xffffffff;
/** Longest document name, in UTF-16 code units (the `DocId` contract). */
export const MAX_DOC_ID_LENGTH = 255;

/** Size options common to every adapter (all in bytes). */
export interface LogLimitOptions {
  /**
   * `shouldCompact()` turns true once the records since the last snapshot reach
   * max(compactAfterBytes, snapshot bytes), so compaction cost stays amortized linear.
   * Default {@link DEFAULT_COMPACT_AFTER_BYTES}.
   */
  compactAfterBytes?: number;
  /**
   * Largest record or snapshot accepted; larger ones reject with `TooLarge`. Stored records larger
   * than this (written under a higher limit) are reported `Corrupt` by the file storage.
   * Default {@link DEFAULT_MAX_RECORD_BYTES}.
   */
  maxRecordBytes?: number;
}

/** Validated limits. */
export interface LogLimits {
  readonly compactAfterBytes: number;
  readonly maxRecordBytes: number;
}

/**
 * Fills in defaults and validates `options`.
 * @throws ConcordError `InvalidArgument` naming `adapter` for a limit that is not a positive integer.
 */
export function resolveLogLimits(options: LogLimitOptions, adapter: string): LogLimits {
  const compactAfterBytes = options.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!Number.isSafeInteger(compactAfterBytes) || compactAfterBytes < 1) {
    throw new ConcordError("InvalidArgument", `${adapter}: compactAfterBytes must be a positive integer, got ${compactAfterBytes}`, {
      compactAfterBytes,
    });
  }
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1 || maxRecordBytes > MAX_RECORD_BYTES_LIMIT) {
    throw new ConcordError(
      "InvalidArgument",
      `${adapter}: maxRecordBytes must be an integer in [1, ${MAX_RECORD_BYTES_LIMIT}], got ${maxRecordBytes}`,
      { maxRecordBytes },
    );
  }
  return { compactAfterBytes, maxRecordBytes };
}

/** The compaction rule behind every adapter's `shouldCompact()`. */
export function compactionDue(limits: LogLimits, recordBytes: number, snapshotBytes: number): boolean {
  return recordBytes >= Math.max(limits.compactAfterBytes, snapshotBytes);
}

/**
 * A `TooLarge` error for `bytes` over `limits.maxRecordBytes`, or undefined when it fits.
 * @param what "record" or "snapshot", for the message.
 */
export function sizeError(limits: LogLimits, bytes: Uint8Array, what: string, where: string): ConcordError | undefined {
  if (bytes.length <= limits.maxRecordBytes) return undefined;
  return new ConcordError(
    "TooLarge",
    `${where}: a ${what} of ${bytes.length} bytes is over the limit of ${limits.maxRecordBytes} (maxRecordBytes)`,
    { size: bytes.length, limit: limits.maxRecordBytes },
  );
}

/**
 * Checks the `DocId` contract (non-empty, at most {@link MAX_DOC_ID_LENGTH} UTF-16 code units).
 * @throws ConcordError `InvalidArgument` otherwise.
 */
export function checkDocId(doc: DocId, adapter: string): void {
  if (typeof doc !== "string" || doc.length === 0 || doc.length > MAX_DOC_ID_LENGTH) {
    const shown = typeof doc === "string" ? `${doc.length} characters` : typeof doc;
    throw new ConcordError(
      "InvalidArgument",
      `${adapter}: a document name must be a string of 1 to ${MAX_DOC_ID_LENGTH} characters, got ${shown}`,
      { doc },
    );
  }
}
