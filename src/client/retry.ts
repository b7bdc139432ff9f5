/**
 * The one retry loop of a node-backed client, for reads and writes alike: send to a node; when the
 * mode's policy says the node may not be the right one any more (the writer moved, the node has no
 * leader), find the group's writer again and, when the policy allows, send again, to the node
 * `next` names, within the request's deadline. The caller says what may be sent again.
 */
import type { Clock } from "../clock.js";
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
  for (let attempts = 1; ; attempts++) {
    try {
      return await attempt(link, attempts === 1 ? timeoutMs : Math.max(1, left()));
    } catch (e) {
      if (!group.policy.writerMayHaveMoved(e)) throw e;
      await group.discover(Math.max(1, left()));
      const candidate = next();
      if (!mayResend(e) || left() < MIN_ATTEMPT_MS) throw e;
      if (group.policy.resend === "once-elsewhere") {
        if (attempts > 1 || candidate === link) throw e;
      } else {
        await sleep(clock, Math.min(pause, left() - MIN_ATTEMPT_MS));
        pause = Math.min(MAX_PAUSE_MS, pause * 2);
        if (left() < MIN_ATTEMPT_MS) throw e;
      }
      link = candidate;
    }
  }
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(Math.max(0, ms), resolve));
}
