/**
 * What a leader sends to keep followers' logs in step (paper 5.3): appends under flow control,
 * heartbeats, snapshot chunks when a follower is behind the compaction point (paper 7), and
 * timeout-now for a leadership transfer (thesis 3.10). Every send lands in the outbox and leaves
 * in the next Ready, after that Ready's persistence.
 */
import { invariant } from "../../errors.js";
import type { LeaderState, RaftNode } from "./node-state.js";
import { send } from "./node-state.js";
import type { Progress } from "./progress.js";
import { encodeReadContext } from "./read-only.js";
import { OutgoingSnapshot } from "./snapshot-transfer.js";
import { asIndex, entryPayloadSize, type Entry, type NodeId } from "./types.js";

/** Members other than this server, in id order. */
export function peersOf(node: RaftNode, leader: LeaderState): NodeId[] {
  return [...leader.progress.keys()].filter((id) => id !== node.id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Sends `to` the entries from its `next` (at most `maxMessageBytes`, at least one), unless flow
 * control forbids it. With `sendIfEmpty`, sends an empty append when there is nothing new (to
 * carry the commit index or to probe a full window). Falls back to a snapshot when the entries
 * were compacted. Returns true when something was sent.
 */
export function maybeSendAppend(node: RaftNode, leader: LeaderState, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = leader.progress.get(to);
  if (pr === undefined || to === node.id || pr.isPaused()) return false;
  const prevIndex = asIndex(pr.next - 1);
  const prevTerm = node.log.term(prevIndex);
  if (prevTerm === "compacted") return maybeStartSnapshot(node, to, pr);
  invariant(prevTerm !== "unavailable", `progress of ${to} has next ${pr.next} beyond the last index ${node.log.lastIndex()}`);
  let entries: Entry[] = [];
  if (pr.state !== "replicate" || !pr.inflights.full()) {
    const got = node.log.slice(pr.next, asIndex(node.log.lastIndex() + 1), node.cfg.maxMessageBytes);
    if (got === "compacted") return maybeStartSnapshot(node, to, pr);
    entries = got;
  }
  if (entries.length === 0 && !sendIfEmpty) return false;
  send(node, { type: "append", to, prevIndex, prevTerm, entries, commit: node.log.committed });
  pr.sentEntries(
    entries.length,
    entries.reduce((n, e) => n + entryPayloadSize(e), 0),
  );
  return true;
}

/** {@link maybeSendAppend} with `sendIfEmpty`. */
export function sendAppend(node: RaftNode, leader: LeaderState, to: NodeId): boolean {
  return maybeSendAppend(node, leader, to, true);
}

/**
 * Sends every peer what it is missing (as many appends as its flow control allows), or at least
 * the commit index.
 */
export function bcastAppend(node: RaftNode, leader: LeaderState): void {
  leader.appendsPending = false;
  for (const id of peersOf(node, leader)) {
    if (!sendAppend(node, leader, id)) continue;
    while (maybeSendAppend(node, leader, id, false)) {
      // Fill the window: replicate state pipelines, probe state pauses after one.
    }
  }
}

/**
 * Heartbeats to every peer (paper 5.2). The commit index sent to a peer never exceeds its match:
 * a follower must not commit an entry it has not been shown to hold. `readSeq` tags the round for
 * pending ReadIndex requests.
 */
export function bcastHeartbeat(node: RaftNode, leader: LeaderState, readSeq: number | null): void {
  const context = readSeq === null ? null : encodeReadContext(readSeq);
  for (const id of peersOf(node, leader)) {
    const pr = leader.progress.get(id);
    if (pr === undefined) continue;
    send(node, { type: "heartbeat", to: id, commit: asIndex(Math.min(pr.match, node.log.committed)), context });
  }
}

/**
 * Starts sending the storage's snapshot to `to` (only to a peer heard from recently). Not while a
 * snapshot this server received is still being persisted: storage's would be older than our log.
 */
function maybeStartSnapshot(node: RaftNode, to: NodeId, pr: Progress): boolean {
  if (!pr.recentActive || node.log.unstable.snapshot !== null) return false;
  const snapshot = node.log.storage.snapshot();
  if (snapshot.meta.index === 0) return false;
  pr.becomeSnapshot(snapshot.meta.index, new OutgoingSnapshot(snapshot, node.cfg.snapshotChunkBytes));
  sendSnapshotChunk(node, to, pr);
  return true;
}

/** Sends the chunk at the acknowledged offset of the transfer under way to `to`. */
export function sendSnapshotChunk(node: RaftNode, to: NodeId, pr: Progress): void {
  const transfer = pr.outgoing;
  if (pr.state !== "snapshot" || transfer === null) return;
  const chunk = transfer.chunk();
  send(node, { type: "snapshot", to, meta: transfer.snapshot.meta, offset: chunk.offset, data: chunk.data, done: chunk.done });
}

/** Tells `to` to campaign now (thesis 3.10). */
export function sendTimeoutNow(node: RaftNode, to: NodeId): void {
  send(node, { type: "timeout-now", to });
}
