/**
 * The compact, stable text of everything a trace prints: entries, messages, Readies, status.
 * Positions are written `term/index` throughout (an entry `2/13`, an append's `prev=1/12`, a
 * vote's `last=1/12`, a rejection's `hint=1/10`). Payloads and read contexts are JSON-quoted
 * strings; a heartbeat's context is the leader's read sequence number (`read-seq=N`).
 *
 * Changing any format here changes every golden file: regenerate with UPDATE_GOLDEN=1 and review
 * the diff.
 */
import type { RaftStatus } from "../../../src/strong/raft/core.js";
import type { Message, Proposal } from "../../../src/strong/raft/messages.js";
import { decodeReadContext } from "../../../src/strong/raft/read-only.js";
import type { Ready } from "../../../src/strong/raft/ready.js";
import type { ConfChange, ConfState, Entry, ReadState, Snapshot } from "../../../src/strong/raft/types.js";
import { text } from "../raft/cluster.js";

/** `voters=(1,2,3) learners=(4)`. */
export function describeConf(conf: ConfState): string {
  return `voters=(${conf.voters.join(",")}) learners=(${conf.learners.join(",")})`;
}

const quote = (b: Uint8Array): string => JSON.stringify(text(b));

const describeChange = (c: ConfChange): string => `${c.type} ${c.node}`;

/** `2/13 normal "x"`, `2/13 noop`, `2/13 conf-change add-learner 4`. */
export function describeEntry(e: Entry): string {
  const at = `${e.term}/${e.index}`;
  switch (e.kind) {
    case "normal":
      return `${at} normal ${quote(e.data)}`;
    case "noop":
      return `${at} noop`;
    case "conf-change":
      return `${at} conf-change ${describeChange(e.change)}`;
  }
}

function describeProposal(p: Proposal): string {
  return p.kind === "normal" ? `normal ${quote(p.data)}` : `conf-change ${describeChange(p.change)}`;
}

function describeHeartbeatContext(ctx: Uint8Array | null): string {
  if (ctx === null) return "";
  const seq = decodeReadContext(ctx);
  return seq === null ? ` ctx=${quote(ctx)}` : ` read-seq=${seq}`;
}

/** `snap=1/20 voters=(1,2,3) learners=()`. */
function describeSnapshotMeta(s: Snapshot["meta"]): string {
  return `snap=${s.term}/${s.index} ${describeConf(s.conf)}`;
}

/** One message on one line: `1->2 append term=1 prev=1/3 commit=3 entries=[1/4 normal "x"]`. */
export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case "vote":
    case "pre-vote":
      return `${head} last=${m.lastTerm}/${m.lastIndex}${m.transfer ? " transfer" : ""}`;
    case "vote-resp":
    case "pre-vote-resp":
      return `${head} ${m.reject ? "rejected" : "granted"}`;
    case "append": {
      const entries = m.entries.length === 0 ? "" : ` entries=[${m.entries.map(describeEntry).join(", ")}]`;
      return `${head} prev=${m.prevTerm}/${m.prevIndex} commit=${m.commit}${entries}`;
    }
    case "append-resp":
      return m.reject ? `${head} rejected index=${m.index} hint=${m.hintTerm}/${m.hintIndex}` : `${head} index=${m.index}`;
    case "heartbeat":
      return `${head} commit=${m.commit}${describeHeartbeatContext(m.context)}`;
    case "heartbeat-resp":
      return `${head}${describeHeartbeatContext(m.context)}`;
    case "snapshot":
      return `${head} ${describeSnapshotMeta(m.meta)} offset=${m.offset} len=${m.data.byteLength}${m.done ? " done" : ""}`;
    case "snapshot-resp":
      return `${head} index=${m.index} offset=${m.offset}${m.reject ? " rejected" : ""}`;
    case "timeout-now":
      return head;
    case "propose":
      return `${head} proposals=[${m.proposals.map(describeProposal).join(", ")}]`;
    case "read-index":
      return `${head} ctx=${quote(m.context)}`;
    case "read-index-resp":
      return `${head} index=${m.index} ctx=${quote(m.context)}`;
    case "transfer-leader":
      return `${head} target=${m.target}`;
  }
}

/** `index=12 ctx="r1"`. */
export function describeReadState(r: ReadState): string {
  return `index=${r.index} ctx=${quote(r.context)}`;
}

const indent = (lines: readonly string[]): string[] => lines.map((l) => `  ${l}`);

/**
 * A Ready, sections in the order the driver must act on them (ready.ts): soft state, hard state,
 * snapshot, entries to persist, then messages, committed entries, read states.
 */
export function describeReady(rd: Ready): string[] {
  const out = [`Ready mustSync=${rd.mustSync}:`];
  if (rd.softState !== null) out.push(`soft role=${rd.softState.role} leader=${rd.softState.leader ?? "none"}`);
  if (rd.hardState !== null) {
    const h = rd.hardState;
    out.push(`hard term=${h.term} vote=${h.vote ?? "none"} commit=${h.commit}`);
  }
  if (rd.snapshot !== null) out.push(`snapshot ${describeSnapshotMeta(rd.snapshot.meta)} data=${rd.snapshot.data.byteLength}B`);
  if (rd.entries.length > 0) out.push("entries:", ...indent(rd.entries.map(describeEntry)));
  if (rd.messages.length > 0) out.push("messages:", ...indent(rd.messages.map(describeMessage)));
  if (rd.committed.length > 0) out.push("committed:", ...indent(rd.committed.map(describeEntry)));
  if (rd.readStates.length > 0) out.push("read-states:", ...indent(rd.readStates.map(describeReadState)));
  return out;
}

/** Role, term, commit, membership; on a leader, each member's progress (thesis 3.5). */
export function describeStatus(st: RaftStatus): string[] {
  const out = [
    `${st.id} ${st.role} term=${st.term} vote=${st.vote ?? "none"} leader=${st.leader ?? "none"} commit=${st.commit} applied=${st.applied} last=${st.lastIndex}`,
    describeConf(st.conf),
  ];
  if (st.progress !== null) {
    out.push("progress:");
    for (const [id, pr] of st.progress) {
      const self = id === st.id ? " (self)" : "";
      out.push(
        `  ${id}${self} ${pr.state} match=${pr.match} next=${pr.next} inflight=${pr.inflight}${pr.recentActive ? " active" : " inactive"}`,
      );
    }
  }
  if (st.transferee !== null) out.push(`transferring to ${st.transferee}`);
  return out;
}
