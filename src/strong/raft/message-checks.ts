/**
 * Plausibility checks on messages from the network. The codec guarantees the shapes of
 * messages.ts; these checks reject CONTENT no correct peer sends (negative or fractional indexes,
 * entries that are not contiguous after `prevIndex`, entry terms above the sender's term...), so
 * the core can drop such a message instead of breaking an invariant. Not a defence against a
 * malicious peer that sends plausible lies: Raft assumes non-Byzantine servers.
 */
import type { Message } from "./messages.js";
import type { ConfChange, ConfState, Entry, SnapshotMeta } from "./types.js";

/** A term, index or offset: a non-negative integer that can still be incremented exactly. */
const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0 && n < Number.MAX_SAFE_INTEGER;
const isId = (s: unknown): s is string => typeof s === "string" && s.length > 0;
const isBytes = (b: unknown): b is Uint8Array => b instanceof Uint8Array;

function isConfChange(c: ConfChange | undefined): boolean {
  if (typeof c !== "object" || c === null || !isId(c.node)) return false;
  return c.type === "add-learner" || c.type === "promote" || c.type === "add-voter" || c.type === "remove";
}

function isConfState(c: ConfState | undefined): boolean {
  return (
    typeof c === "object" &&
    c !== null &&
    Array.isArray(c.voters) &&
    Array.isArray(c.learners) &&
    c.voters.every(isId) &&
    c.learners.every(isId) &&
    !c.voters.some((v) => c.learners.some((l) => l === v))
  );
}

function isMeta(meta: SnapshotMeta | undefined, term: number): boolean {
  return typeof meta === "object" && meta !== null && isCount(meta.index) && meta.index > 0 && isCount(meta.term) && meta.term > 0 && meta.term <= term && isConfState(meta.conf);
}

/** Entries of an append: contiguous after `prevIndex`, terms from `prevTerm` up to `term`, never decreasing. */
function areEntries(entries: readonly Entry[], prevIndex: number, prevTerm: number, term: number): boolean {
  if (!Array.isArray(entries)) return false;
  let lastTerm = prevTerm;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e === undefined || e.index !== prevIndex + 1 + i || !isCount(e.term) || e.term < lastTerm || e.term > term) return false;
    lastTerm = e.term;
    switch (e.kind) {
      case "normal":
        if (!isBytes(e.data)) return false;
        break;
      case "noop":
        break;
      case "conf-change":
        if (!isConfChange(e.change)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** True when `m` is something a correct peer could have sent; anything else is dropped by `step`. */
export function isPlausible(m: Message): boolean {
  if (typeof m !== "object" || m === null || !isId(m.from) || !isId(m.to) || !isCount(m.term)) return false;
  switch (m.type) {
    case "vote":
    case "pre-vote":
      return isCount(m.lastIndex) && isCount(m.lastTerm) && typeof m.transfer === "boolean";
    case "vote-resp":
    case "pre-vote-resp":
      return typeof m.reject === "boolean";
    case "append":
      return (
        isCount(m.prevIndex) &&
        isCount(m.prevTerm) &&
        m.prevTerm <= m.term &&
        isCount(m.commit) &&
        areEntries(m.entries, m.prevIndex, m.prevTerm, m.term)
      );
    case "append-resp":
      return typeof m.reject === "boolean" && isCount(m.index) && isCount(m.hintIndex) && isCount(m.hintTerm);
    case "heartbeat":
      return isCount(m.commit) && (m.context === null || isBytes(m.context));
    case "heartbeat-resp":
      return m.context === null || isBytes(m.context);
    case "snapshot":
      return isMeta(m.meta, m.term) && isCount(m.offset) && isBytes(m.data) && typeof m.done === "boolean";
    case "snapshot-resp":
      return isCount(m.index) && isCount(m.offset) && typeof m.reject === "boolean";
    case "timeout-now":
      return true;
    case "propose":
      return (
        Array.isArray(m.proposals) &&
        m.proposals.every((p) => (p.kind === "normal" ? isBytes(p.data) : p.kind === "conf-change" && isConfChange(p.change)))
      );
    case "read-index":
      return isBytes(m.context);
    case "read-index-resp":
      return isCount(m.index) && isBytes(m.context);
    case "transfer-leader":
      return isId(m.target);
    default:
      return false;
  }
}
