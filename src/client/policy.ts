/**
 * What differs between following a primary and following a Raft leader (STYLE.md section 12): each
 * node-backed mode hands the client room a {@link NodeGroupPolicy}. The client room does the rest
 * the same way for every mode: links, discovery, sessions, subscriptions, retries.
 */
import type { Json } from "../json.js";

/** What one node said of itself in a `status` answer, in the terms every mode shares. */
export interface NodeReport {
  readonly url: string;
  readonly id: string;
  /** The newest term of office the node knows (primary mode's epoch, Raft's term). */
  readonly term: number;
  /** The node says it takes writes in `term` now (an unfenced primary, a Raft leader). */
  readonly writer: boolean;
}

/** A mode's rules for a client of its node group. */
export interface NodeGroupPolicy {
  /** What the mode calls the node writes go to and its term of office, for messages: `["primary", "epoch"]`, `["leader", "term"]`. */
  readonly words: { readonly writer: string; readonly term: string };
  /** The report in a node's `status` answer, or undefined when it has not the shape of this mode's node. */
  report(url: string, status: Json): NodeReport | undefined;
  /** After a request to the writer failed with `e`, the group may have another writer: discover it before the next write. */
  writerMayHaveMoved(e: unknown): boolean;
  /**
   * A write that failed with `e` may be sent again to the writer found since: it was certainly not
   * applied, or the mode makes a second delivery harmless (Raft client sessions).
   */
  mayResend(e: unknown): boolean;
  /**
   * How often: `"once-elsewhere"`, once, and only to another node than the one that failed
   * (primary mode: a promotion happened); `"until-deadline"`, as often as the request's time
   * allows, with a short growing pause between attempts, the same node included (an election takes
   * a moment, and the node that failed may win it).
   */
  readonly resend: "once-elsewhere" | "until-deadline";
  /** Whether writes carry a client session (exactly-once delivery), opened with the first write. */
  readonly sessions: boolean;
}
