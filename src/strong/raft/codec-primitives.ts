/**
 * The Raft codec's binding of the shared primitives (`src/codec/primitives.ts`, where `uint`,
 * `node` (an `id`), `bytes`, `list`, `opt` are described): its version byte, its name in errors,
 * and its node ids. Every top-level Raft value is `u8 version (1)`, the value, nothing after it.
 */
import { invalidIdReason, type BinaryFormat, type DecodeLimits as CodecDecodeLimits } from "../../codec/primitives.js";

/** The format version this code writes, and the only one it reads. */
export const RAFT_CODEC_VERSION = 1;

/** The Raft wire and record format, for `encodeVersioned` / `decodeVersioned`. */
export const RAFT_FORMAT: BinaryFormat = { name: "raft codec", version: RAFT_CODEC_VERSION, idName: "node id" };

/** Options of every Raft decoder. */
export type DecodeLimits = CodecDecodeLimits;

/**
 * Why `id` cannot name a node on the wire, or null when it can (the shared rule for ids: non-empty,
 * at most 255 UTF-16 code units, no lone surrogates). `asNodeId` does not check: whatever takes a
 * node id from a user (config, membership changes, transfer targets) MUST check it with this,
 * because the encoders refuse an invalid one with `InvalidArgument`, and an entry already in the
 * log could then never be sent.
 */
export const invalidNodeIdReason: (id: string) => string | null = invalidIdReason;
