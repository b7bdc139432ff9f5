/**
 * A follower's side of replication: AppendEntries with the log-matching rules (paper 5.3),
 * heartbeats, and InstallSnapshot in chunks (paper 7; protocol in snapshot-transfer.ts). Every
 * answer is queued for the next Ready, so it leaves only after what it acknowledges is durable.
 */
import type { MessageOf } from "./messages.js";
import { send, type RaftNode } from "./node-state.js";
import { IncomingSnapshot } from "./snapshot-transfer.js";
import { asIndex, asTerm, type Snapshot } from "./types.js";

/**
 * AppendEntries (paper 5.3). Entries at or below our commit index are already known to match, so
 * such an append is answered with the commit index. Otherwise, on a (prevIndex, prevTerm) match
 * the conflicting suffix is replaced and the commit index moves to min(leader commit, last new
 * index); on a mismatch the rejection carries a hint (the last index of ours whose term is <= the
 * leader's prevTerm) so the leader can skip a whole term at once.
 */
export function handleAppend(node: RaftNode, m: MessageOf<"append">): void {
  const log = node.log;
  if (m.prevIndex < log.committed) {
    send(node, { type: "append-resp", to: m.from, reject: false, index: log.committed, hintIndex: asIndex(0), hintTerm: asTerm(0) });
    return;
  }
  const result = log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
  if (result !== null) {
    const first = result.appended[0];
    if (first !== undefined) {
      node.conf.truncateFrom(first.index);
      node.conf.onAppend(result.appended);
    }
    send(node, { type: "append-resp", to: m.from, reject: false, index: result.lastNew, hintIndex: asIndex(0), hintTerm: asTerm(0) });
    return;
  }
  const hint = log.findConflictByTerm(asIndex(Math.min(m.prevIndex, log.lastIndex())), m.prevTerm);
  send(node, { type: "append-resp", to: m.from, reject: true, index: m.prevIndex, hintIndex: hint.index, hintTerm: hint.term });
}

/**
 * A heartbeat: the leader's commit index, already capped at what it knows we hold; capped again at
 * our last index so a nonsensical value can never commit what we don't have.
 */
export function handleHeartbeat(node: RaftNode, m: MessageOf<"heartbeat">): void {
  node.log.commitTo(asIndex(Math.min(m.commit, node.log.lastIndex())));
  send(node, { type: "heartbeat-resp", to: m.from, context: m.context });
}

/** One chunk of InstallSnapshot; see snapshot-transfer.ts for the protocol. */
export function handleSnapshotChunk(node: RaftNode, m: MessageOf<"snapshot">): void {
  const log = node.log;
  const meta = m.meta;
  if (meta.index <= log.committed) {
    if (node.incoming?.meta.index === meta.index) node.incoming = null;
    send(node, { type: "append-resp", to: m.from, reject: false, index: log.committed, hintIndex: asIndex(0), hintTerm: asTerm(0) });
    return;
  }
  if (m.offset === 0 && !(node.incoming?.matches(m.from, m.term, meta) ?? false)) {
    node.incoming = new IncomingSnapshot(m.from, m.term, meta);
  }
  const incoming = node.incoming;
  if (incoming === null || !incoming.matches(m.from, m.term, meta)) {
    send(node, { type: "snapshot-resp", to: m.from, index: meta.index, offset: 0, reject: true });
    return;
  }
  const outcome = incoming.accept(m.offset, m.data);
  if (outcome !== "appended" || !m.done) {
    send(node, { type: "snapshot-resp", to: m.from, index: meta.index, offset: incoming.received, reject: outcome === "gap" });
    return;
  }
  node.incoming = null;
  restore(node, { meta, data: incoming.assemble() });
  // Either way our log now matches the leader's up to the snapshot's index, which is committed.
  send(node, { type: "append-resp", to: m.from, reject: false, index: log.committed, hintIndex: asIndex(0), hintTerm: asTerm(0) });
}

/**
 * Installs `snapshot`, newer than our commit index (the caller checked). When our log already holds
 * its last entry, only the commit index moves (our later entries may still be useful); otherwise
 * the snapshot replaces the log (it leaves in the next Ready, and membership becomes the
 * snapshot's). Either way the commit index is then the snapshot's index.
 */
function restore(node: RaftNode, snapshot: Snapshot): void {
  const { index, term, conf } = snapshot.meta;
  if (node.log.matchTerm(index, term)) {
    node.log.commitTo(index);
    return;
  }
  node.log.restore(snapshot);
  node.conf.restore(conf, index);
}
