/**
 * How big the Yjs update of a write will be, known BEFORE the write touches the document: a write
 * too large for storage must be refused while refusing still means "nothing happened".
 */
import * as encoding from "lib0/encoding";
import type { Json } from "../json.js";

/**
 * Bytes one map operation adds to an update beyond its key and value: struct header, client and
 * clock, parent name, content length, and its share of the delete set. Generous on purpose.
 */
export const UPDATE_BYTES_PER_OP = 64;

/** One key written (`value`) or deleted (`undefined`) by a write. */
export type WriteOp = readonly [key: string, value: Json | undefined];

/**
 * The exact encoded size of the values plus an upper bound of the rest. Costs an encoding of every
 * value, so call it only when the cheap bound of `toFrozenJson` is over the limit.
 */
export function updateBytesUpperBound(ops: readonly WriteOp[]): number {
  const encoder = encoding.createEncoder();
  let bytes = 0;
  for (const [key, value] of ops) {
    encoding.writeVarString(encoder, key);
    if (value !== undefined) encoding.writeAny(encoder, value as Parameters<typeof encoding.writeAny>[1]);
    bytes += UPDATE_BYTES_PER_OP;
  }
  return bytes + encoding.length(encoder);
}
