/**
 * How a client follows a Raft cluster (the {@link NodeGroupPolicy} of `client/`): a node's `status`
 * says its role and term; the writer is the leader of the newest term. A request that fails because
 * this node is not (or no longer) the leader, or cannot reach a majority, or did not answer, is sent
 * again, to the leader found since, until its deadline: writes carry a client session, so the
 * cluster applies a write sent twice once (`strong/sessions.ts`), and reads change nothing.
 */
import type { NodeGroupPolicy, NodeReport } from "../client/policy.js";
import { isConcordError } from "../errors.js";
import type { Json } from "../json.js";

export const strongPolicy: NodeGroupPolicy = {
  words: { writer: "leader", term: "term" },
  report: reportOf,
  writerMayHaveMoved: (e) => isConcordError(e, "NotLeader") || isConcordError(e, "Unavailable") || isConcordError(e, "Timeout"),
  mayResend: () => true,
  resend: "until-deadline",
  sessions: true,
};

/** The report in a strong-mode node's `status` answer, or undefined when it has not that shape. */
export function reportOf(url: string, status: Json): NodeReport | undefined {
  if (typeof status !== "object" || status === null || Array.isArray(status)) return undefined;
  const s = status as { readonly [key: string]: Json };
  const { id, role, term } = s;
  if (typeof id !== "string" || typeof role !== "string" || typeof term !== "number") return undefined;
  if (role !== "leader" && role !== "follower" && role !== "candidate" && role !== "pre-candidate") return undefined;
  return { url, id, term, writer: role === "leader" };
}
