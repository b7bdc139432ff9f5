/**
 * The one retry loop of a node-backed client, for reads and writes alike: send to a node; when the
 * mode's policy says the node may not be the right one any more (the writer moved, the node has no
 * leader), find the group's writer again and, when the policy allows, send again, to the node
 * `next` names, within the request's deadline. The caller says what may be sent again.
 */
import type { Clock } from "../clock.js";
import { ConcordError, isConcordError } from "../errors.js";
import type { NodeGroup } from "./node-group.js";
import type { NodeLink } from "./node-link.js";

/** First pause between two attempts of a resend `"until-deadline"`, in ms; it doubles up to {@link MAX_PAUSE_MS}. */
const FIRST_PAUSE_MS = 20;
const MAX_PAUSE_MS = 500;
/** An attempt is not started with less time than this left: the error of the last one says more than a timeout would. */
const MIN_ATTEMPT_MS = 20;

/**
 * Runs `attempt` at `first` until it succeeds, or fails with an error after which `mayResend(e)` is
 * false, the policy's resend rule says stop, or the deadline is (nearly) there: then rejects with
 * the LAST error. Between attempts the group discovers its writer again; `next` picks the node of
 * the next attempt (default: the writer). `attempt` gets the time left.
 *
 * Between attempts it pauses (20 ms, doubling up to 500), except right after discovery found a
 * writer of a newer term than the one that failed: that one is tried at once. An attempt that used
 * up the deadline (a silent node) fails at once and leaves a discovery running in the background,
 * so that the next request goes to the writer it finds.
 *
 * A write's fate is the worst of its attempts': when an earlier attempt may have applied it
 * (`details.outcome: "unknown"`), a last attempt refused before ordering does not make it "not
 * applied": the error says "unknown", and why.
 */
export async function withRetries<T>(
  group: NodeGroup,
  clock: Clock,
  timeoutMs: number,
  attempt: (link: NodeLink, timeLeftMs: number) => Promise<T>,
  mayResend: (e: unknown) => boolean,
  first: NodeLink = group.writer,
  next: () => NodeLink = () => group.writer,
): Promise<T> {
  const deadline = clock.now() + timeoutMs;
  const left = (): number => Math.ceil(deadline - clock.now());
  let link = first;
  let pause = FIRST_PAUSE_MS;
  /** An earlier attempt whose write may have applied. */
  let uncertain: ConcordError | undefined;
  for (let attempts = 1; ; attempts++) {
    try {
      return await attempt(link, attempts === 1 ? timeoutMs : Math.max(1, left()));
    } catch (e) {
      const fail = (): never => {
        throw worstOf(e, uncertain);
      };
      if (!group.policy.writerMayHaveMoved(e)) fail();
      if (isConcordError(e) && e.details["outcome"] === "unknown") uncertain = e;
      if (left() < MIN_ATTEMPT_MS) {
        // The attempt took (nearly) the whole deadline: its node went silent. No time is left to
        // learn anything for this request; learn it for the next ones, in the background, with a
        // whole timeout (the silent node's answer is waited for no longer than that).
        group.discover(timeoutMs).catch(() => undefined);
        fail();
      }
      const termBefore = group.writerTerm ?? 0;
      const choice = await group.discover(Math.max(1, left()));
      const candidate = next();
      if (!mayResend(e) || left() < MIN_ATTEMPT_MS) fail();
      if (group.policy.resend === "once-elsewhere") {
        if (attempts > 1 || candidate === link) fail();
      } else if (choice.writer === undefined || choice.term <= termBefore) {
        // No writer of a newer term yet (an election is under way): wait a little longer each time.
        // One of a newer term is tried at once; terms only grow, so that happens a bounded number of times.
        const wait = Math.min(pause, left() - MIN_ATTEMPT_MS);
        if (wait <= 0) fail(); // no time for a pause AND an attempt (never a burst of attempts without pauses)
        await sleep(clock, wait);
        pause = Math.min(MAX_PAUSE_MS, pause * 2);
        if (left() < MIN_ATTEMPT_MS) fail();
      }
      link = candidate;
    }
  }
}

/** `last`, unless it says its write was not applied while an earlier attempt may have applied it: then that, as unknown. */
function worstOf(last: unknown, uncertain: ConcordError | undefined): unknown {
  if (uncertain === undefined || !isConcordError(last)) return last;
  const outcome = last.details["outcome"];
  if (outcome !== "not-applied" && outcome !== "refused") return last;
  return new ConcordError(
    last.code,
    `${last.message}; but an earlier attempt may have applied the write (${uncertain.message}): its outcome is unknown, read it back before retrying`,
    { ...last.details, outcome: "unknown" },
    { cause: last },
  );
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(Math.max(0, ms), resolve));
}
