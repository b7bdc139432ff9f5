/**
 * How a client follows a primary-mode node group (the {@link NodeGroupPolicy} of `client/`): a
 * node's `status` says its role, epoch and whether it is fenced; the writer is the unfenced primary
 * of the newest epoch. A write moves on to a new primary only when it was certainly not applied: a
 * replica never orders one (`ReadOnlyReplica`), and a write never sent was not. A write refused
 * with `Fenced` is NOT sent again: a primary is fenced while a write waits for its replicas, and
 * the replica promoted since may hold it.
 *
 * Not guaranteed: between a promotion and the old primary hearing of it, the old primary still
 * takes writes, and a `local` write it takes then is lost when it rejoins (what `{ replicas: n }`
 * is for).
 */
import { isConcordError } from "../errors.js";
import type { Json } from "../json.js";
import type { NodeGroupPolicy, NodeReport } from "../client/policy.js";

export const primaryPolicy: NodeGroupPolicy = {
  words: { writer: "primary", term: "epoch" },
  report: reportOf,
  // A refusal naming another primary, or the link to the primary down.
  // A timeout too: the primary may be silent (paused, cut off) while a sentinel promotes another.
  writerMayHaveMoved: (e) =>
    isConcordError(e, "ReadOnlyReplica") ||
    isConcordError(e, "Fenced") ||
    isConcordError(e, "Timeout") ||
    (isConcordError(e, "Unavailable") && e.details["outcome"] !== "refused"),
  // A write no node applied: refused before ordering (`ReadOnlyReplica`), or never sent.
  mayResend: (e) =>
    isConcordError(e, "ReadOnlyReplica") ? e.details["outcome"] === "refused" : isConcordError(e, "Unavailable") && e.details["outcome"] === "not-applied",
  resend: "once-elsewhere",
  sessions: false,
};

/** The report in a primary-mode node's `status` answer, or undefined when it has not that shape. */
export function reportOf(url: string, status: Json): NodeReport | undefined {
  if (typeof status !== "object" || status === null || Array.isArray(status)) return undefined;
  const s = status as { readonly [key: string]: Json };
  const { id, role, epoch, fenced } = s;
  if (typeof id !== "string" || (role !== "primary" && role !== "replica") || typeof epoch !== "number" || typeof fenced !== "boolean") return undefined;
  return { url, id, term: epoch, writer: role === "primary" && !fenced };
}
