/**
 * One write of a primary-mode client, from the request to its acknowledgement or a failure that
 * states the write's fate (`details.outcome`), following the group's primary when it moved.
 *
 * - The write goes to the group's primary ({@link NodeGroup.primary}). When a newer epoch than the
 *   primary's is already known, the client first finds the new primary, and sends nothing when
 *   none leads that epoch (`Unavailable`, `outcome: "not-applied"`).
 * - A failure that says the primary may have moved (`ReadOnlyReplica`, `Fenced`, or the link to it
 *   down) makes the client discover the primary again ({@link NodeGroup.discover}), so that later
 *   writes go to the new one.
 * - The write itself is sent again, ONCE, to the new primary only when it was certainly not
 *   applied: refused with `ReadOnlyReplica` (a replica never orders a write) or never sent (the
 *   link was down). A write refused with `Fenced` is NOT retried: a primary is fenced while a write
 *   waits for its replicas, and the replica promoted since may hold it; it fails with
 *   `outcome: "unknown"`, as does any write sent and left unanswered (`Timeout`, the link dropping):
 *   sending it again could apply it twice. Read it back before retrying.
 * - `timeoutMs` bounds the whole: the first attempt, discovery and the retry.
 *
 * Not guaranteed: a retried write may land after writes the app made later, when those were in
 * flight at the same time; writes awaited one after the other keep their order.
 */
import type { Clock } from "../clock.js";
import { ConcordError, isConcordError } from "../errors.js";
import type { WireDurability, WriteOp } from "../service/protocol.js";
import { noPrimary, type NodeGroup } from "./client-node-group.js";
import type { Answer, NodeLink } from "./node-link.js";

/** A write's acknowledgement as the node sent it. */
export type Written = Extract<Answer, { readonly type: "written" }>;

/** One write as the client sends it. */
export interface WriteRequest {
  readonly type: "write";
  readonly ops: readonly WriteOp[];
  readonly durability: WireDurability;
}

/** Sends `request` to the group's primary (see the module comment); rejects with a ConcordError whose `details.outcome` states the write's fate. */
export async function sendWrite(group: NodeGroup, request: WriteRequest, timeoutMs: number, clock: Clock): Promise<Written> {
  const deadline = clock.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - clock.now());
  if (group.primaryOutdated) {
    const choice = await group.discover(timeoutMs);
    if (choice.primary === undefined) throw noPrimary(choice, undefined);
  }
  const first = group.primary;
  try {
    return await attempt(group, first, request, timeoutMs);
  } catch (e) {
    if (!primaryMayHaveMoved(e)) throw e;
    await group.discover(left());
    const next = group.primary;
    if (next === first || !certainlyNotApplied(e) || deadline - clock.now() <= 0) throw e;
    return attempt(group, next, request, left());
  }
}

async function attempt(group: NodeGroup, link: NodeLink, request: WriteRequest, timeoutMs: number): Promise<Written> {
  const r = await link.request(request, timeoutMs);
  if (r.type !== "written") throw new ConcordError("Protocol", `expected a written answer to a write, got ${r.type}`, { outcome: "unknown" });
  group.acknowledged(link, r.position.epoch);
  return r;
}

/** A failure after which the group may have another primary: a refusal naming another one, or the link to it down. */
function primaryMayHaveMoved(e: unknown): boolean {
  if (isConcordError(e, "ReadOnlyReplica") || isConcordError(e, "Fenced")) return true;
  return isConcordError(e, "Unavailable") && e.details["outcome"] !== "refused";
}

/** A write that no node applied: refused before ordering (`ReadOnlyReplica`), or never sent. */
function certainlyNotApplied(e: unknown): boolean {
  if (isConcordError(e, "ReadOnlyReplica")) return e.details["outcome"] === "refused";
  return isConcordError(e, "Unavailable") && e.details["outcome"] === "not-applied";
}
