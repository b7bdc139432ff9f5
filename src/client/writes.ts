/**
 * One write of a node-backed client, from the request to its acknowledgement or a failure that
 * states the write's fate (`details.outcome`), following the group's writer when it moved.
 *
 * - The write goes to the group's writer ({@link NodeGroup.writer}). When a newer term than the
 *   writer's is already known, the client first finds the new writer, and sends nothing when none
 *   leads that term (`Unavailable`, `outcome: "not-applied"`).
 * - A failure after which the mode's policy says the writer may have moved (primary mode:
 *   `ReadOnlyReplica`, `Fenced`, the link down) makes the client discover the writer again
 *   ({@link NodeGroup.discover}), so that later writes go to the new one.
 * - The write itself is sent again only when the policy allows it (`mayResend`, `resend`,
 *   `retry.ts`): primary mode once, to the new primary, when it was certainly not applied (refused
 *   with `ReadOnlyReplica`, or never sent); strong mode until its deadline, since its client session
 *   makes a second delivery harmless. Anything else fails with the error, whose `details.outcome`
 *   says whether the write may have been applied: read it back before retrying.
 * - `timeoutMs` bounds the whole: the attempts, discovery and the pauses between them.
 *
 * Not guaranteed: a retried write may land after writes the app made later, when those were in
 * flight at the same time; writes awaited one after the other keep their order.
 */
import type { Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import type { WireDurability, WireSession, WriteCondition, WriteOp } from "../service/protocol.js";
import type { NodeGroup } from "./node-group.js";
import type { Answer, NodeLink } from "./node-link.js";
import { withRetries } from "./retry.js";

/** A write's acknowledgement as the node sent it. */
export type Written = Extract<Answer, { readonly type: "written" }>;

/** One write as the client sends it. */
export interface WriteRequest {
  readonly type: "write";
  readonly doc: string;
  readonly conditions: readonly WriteCondition[];
  readonly ops: readonly WriteOp[];
  readonly durability: WireDurability;
  readonly session: WireSession | null;
}

/** Sends `request` to the group's writer (see the module comment); rejects with a ConcordError whose `details.outcome` states the write's fate. */
export async function sendWrite(group: NodeGroup, request: WriteRequest, timeoutMs: number, clock: Clock): Promise<Written> {
  if (group.writerOutdated) {
    const choice = await group.discover(timeoutMs);
    if (choice.writer === undefined) throw group.noWriter(choice, undefined);
  }
  return withRetries(group, clock, timeoutMs, (link, ms) => attempt(group, link, request, ms), (e) => group.policy.mayResend(e));
}

async function attempt(group: NodeGroup, link: NodeLink, request: WriteRequest, timeoutMs: number): Promise<Written> {
  const r = await link.request(request, timeoutMs);
  if (r.type !== "written") throw new ConcordError("Protocol", `expected a written answer to a write, got ${r.type}`, { outcome: "unknown" });
  group.acknowledged(link, r.position.epoch);
  return r;
}
