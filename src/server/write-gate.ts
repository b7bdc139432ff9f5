/**
 * The gate every frame of a client passes on its way into a room, BEFORE the room's store (and its
 * pure sync core) sees it: it enforces what the core knows nothing about, namely a read-only
 * connection's access and the document size limit. Frames that carry no document change (sync
 * step 1, presence, queries, Concord's extensions) always pass.
 *
 * A document change is a sync step 2 or update whose Yjs update holds a struct the document lacks,
 * or deletes something the document has not deleted. Stock y-websocket clients answer the
 * server's step 1 with a step 2 on every connection, holding their whole delete set even when
 * they have nothing new: such an update changes nothing and passes, from any connection.
 *
 * Read-only connections: a change is refused, never applied: the client is answered with the
 * y-websocket auth message "permission denied" (type 2, sub-type 0) and stays connected (it still
 * receives everything). Concord's acks count the update-bearing messages of a connection, so once
 * one was refused, later ones (even empty) are dropped too: the server never acks past a refusal,
 * and so never acks a refused write. Presence (awareness) of read-only connections is relayed
 * like anyone's: it is not document content, and readers being visible ("who is viewing") is the
 * common wish.
 *
 * Size limit: a change that would take the document past `maxDocBytes` (estimated as its storage's
 * snapshot plus log bytes, plus the update's size) is refused and its connection closed with 4413.
 */
import * as decoding from "lib0/decoding";
import * as Y from "yjs";
import type { Access } from "../ops/auth.js";

/** What to do with one client frame. */
export type GateVerdict =
  /** Hand it to the room's store. */
  | { readonly kind: "deliver" }
  /** Drop it silently (an update-bearing frame after a refusal on a read-only connection). */
  | { readonly kind: "drop" }
  /** A read-only connection tried to change the document: answer "permission denied", keep it. */
  | { readonly kind: "read-only" }
  /** The change would take the document past `maxDocBytes`: close the connection with 4413. */
  | { readonly kind: "doc-too-large"; readonly docBytes: number; readonly updateBytes: number }
  /** The update does not decode: close the connection with 4400 (`message` says why). */
  | { readonly kind: "malformed"; readonly message: string };

/** What a gate reads of its room. */
export interface GateRoom {
  readonly doc: Y.Doc;
  /** The document's current size estimate in bytes (storage snapshot + log). */
  docBytes(): number;
}

const DELIVER: GateVerdict = Object.freeze({ kind: "deliver" });
const DROP: GateVerdict = Object.freeze({ kind: "drop" });
const READ_ONLY: GateVerdict = Object.freeze({ kind: "read-only" });

/** One connection's gate. Not shared between connections (it remembers refusals). */
export class WriteGate {
  #refused = false;

  constructor(
    private readonly access: Access,
    private readonly maxDocBytes: number,
    private readonly room: GateRoom,
  ) {}

  /** The verdict on `frame`. Never throws. */
  check(frame: Uint8Array): GateVerdict {
    const update = syncUpdateOf(frame);
    if (update === undefined) return DELIVER;
    if (this.access === "read-only") {
      let changes: boolean;
      try {
        changes = carriesChanges(update, this.room.doc);
      } catch (error) {
        return { kind: "malformed", message: `the update does not decode: ${error instanceof Error ? error.message : String(error)}` };
      }
      if (changes) {
        this.#refused = true;
        return READ_ONLY;
      }
      return this.#refused ? DROP : DELIVER;
    }
    const docBytes = this.room.docBytes();
    // Decoding costs as much as applying: only near the limit.
    if (docBytes + update.byteLength <= this.maxDocBytes) return DELIVER;
    let changes: boolean;
    try {
      changes = carriesChanges(update, this.room.doc);
    } catch {
      return DELIVER; // the store refuses it (Protocol, 4400) without applying it
    }
    return changes ? { kind: "doc-too-large", docBytes, updateBytes: update.byteLength } : DELIVER;
  }
}

/**
 * The Yjs update of a sync step 2 or update frame; `undefined` for every other frame, and for a
 * frame too broken to tell (the store refuses those with `Protocol`).
 */
export function syncUpdateOf(frame: Uint8Array): Uint8Array | undefined {
  try {
    const d = decoding.createDecoder(frame);
    if (decoding.readVarUint(d) !== 0) return undefined; // not a sync message
    const sub = decoding.readVarUint(d);
    if (sub !== 1 && sub !== 2) return undefined; // step 1, or unknown (refused by the store)
    return decoding.readVarUint8Array(d);
  } catch {
    return undefined;
  }
}

/**
 * True when applying `update` (Yjs v1) to `doc` would change it: it holds a struct past `doc`'s
 * state for its client, or deletes a range `doc` has not entirely deleted. Throws if `update` does
 * not decode.
 */
export function carriesChanges(update: Uint8Array, doc: Y.Doc): boolean {
  const { structs, ds } = Y.decodeUpdate(update);
  for (const struct of structs) {
    if (struct instanceof Y.Skip) continue;
    if (struct.id.clock + struct.length > Y.getState(doc.store, struct.id.client)) return true;
  }
  if (ds.clients.size === 0) return false;
  const have = Y.createDeleteSetFromStructStore(doc.store).clients;
  for (const [client, ranges] of ds.clients) {
    const deleted = have.get(client) ?? [];
    for (const range of ranges) {
      if (range.len === 0) continue;
      const end = range.clock + range.len;
      // `deleted` is sorted and merged: the range is covered only by one item.
      if (!deleted.some((d) => d.clock <= range.clock && end <= d.clock + d.len)) return true;
    }
  }
  return false;
}
