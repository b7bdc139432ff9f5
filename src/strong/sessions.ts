/**
 * Client sessions of the `strong` state machine (Raft thesis section 6.3): exactly-once writes.
 * A client opens a session (a committed command, so every server knows it; its id is the index of
 * that command's entry, unique in the cluster's one log) and numbers its writes 1, 2, 3... A write
 * carries its session, its sequence number and the lowest sequence number whose answer the client
 * still waits for. The state machine applies a write once, remembers its outcome, and answers a
 * retry (the same session and number, through any server, in any later term) with that outcome
 * instead of applying it again. The answers below `firstUnacked` are forgotten: the client has them.
 *
 * Expiry: at most `maxSessions` sessions are kept; opening one more expires the one used least
 * recently (by log index, so every server expires the same one). A write of a session the table
 * does not know is refused with `SessionExpired`, never applied: its client opens a new session,
 * and learns that its writes in flight may or may not have applied. Pure and deterministic: the
 * table is part of the state machine, its snapshots included.
 */

/** The outcome of a write, as its session remembers it. */
export interface SessionAnswer {
  /** The index and term of the entry that applied it. */
  readonly index: number;
  readonly term: number;
  /** Its conditions held and its ops applied. */
  readonly succeeded: boolean;
}

/** One session's state. */
export interface SessionState {
  /** Log index of the last command that used it (for expiry). */
  lastUsed: number;
  /** Every sequence number below this was acknowledged to the client: its answer is gone. */
  firstUnacked: number;
  /** Answers of the writes applied at or above `firstUnacked`, by sequence number. */
  readonly answers: Map<number, SessionAnswer>;
}

/** Default of the most sessions kept at once. */
export const DEFAULT_MAX_SESSIONS = 10_000;
/** The most answers one session keeps (writes a client may have in flight at once, and not acknowledged). */
export const MAX_ANSWERS_PER_SESSION = 4_096;

/** What a session says of a write before it is applied. */
export type SessionCheck =
  | { readonly kind: "new" }
  | { readonly kind: "duplicate"; readonly answer: SessionAnswer }
  | { readonly kind: "expired"; readonly why: string };

/** Every open session (see the module comment). */
export class SessionTable {
  readonly #sessions = new Map<number, SessionState>();
  readonly #max: number;

  constructor(maxSessions = DEFAULT_MAX_SESSIONS) {
    this.#max = maxSessions;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** The sessions, oldest id first (for snapshots and tests). */
  entries(): Array<[number, SessionState]> {
    return [...this.#sessions].sort(([a], [b]) => a - b);
  }

  /** Opens session `id` at log index `id`, expiring the least recently used one when full. */
  open(id: number): void {
    if (this.#sessions.size >= this.#max) {
      let oldest: number | undefined;
      let oldestUse = Number.POSITIVE_INFINITY;
      for (const [sid, s] of this.#sessions) {
        if (s.lastUsed < oldestUse || (s.lastUsed === oldestUse && sid < (oldest ?? Number.POSITIVE_INFINITY))) {
          oldest = sid;
          oldestUse = s.lastUsed;
        }
      }
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    this.#sessions.set(id, { lastUsed: id, firstUnacked: 1, answers: new Map() });
  }

  /** Closes a session (its client is done with it). Unknown ids are ignored. */
  close(id: number): void {
    this.#sessions.delete(id);
  }

  /** Puts back a session as a snapshot held it. */
  restore(id: number, state: SessionState): void {
    this.#sessions.set(id, state);
  }

  /** What write `seq` of session `id` is: new, a retry of one applied, or not to be applied. Changes nothing. */
  check(id: number, seq: number): SessionCheck {
    const s = this.#sessions.get(id);
    if (s === undefined) return { kind: "expired", why: `session ${id} is not open (it expired, was closed, or never existed)` };
    const answer = s.answers.get(seq);
    if (answer !== undefined) return { kind: "duplicate", answer };
    if (seq < s.firstUnacked) return { kind: "expired", why: `write ${seq} of session ${id} was acknowledged already (the session has moved past ${s.firstUnacked - 1}): a stale retry` };
    if (s.answers.size >= MAX_ANSWERS_PER_SESSION) {
      return { kind: "expired", why: `session ${id} holds ${s.answers.size} unacknowledged answers, the most it may: acknowledge answers (firstUnacked) or open a new session` };
    }
    return { kind: "new" };
  }

  /** Records that write `seq` of session `id` applied at `answer`, and that the client has every answer below `firstUnacked`. */
  applied(id: number, seq: number, firstUnacked: number, answer: SessionAnswer): void {
    const s = this.#sessions.get(id);
    if (s === undefined) return;
    s.answers.set(seq, answer);
    this.touch(id, answer.index, firstUnacked);
  }

  /** Session `id` was used at `index`: it is recent, and answers below `firstUnacked` are forgotten. */
  touch(id: number, index: number, firstUnacked: number): void {
    const s = this.#sessions.get(id);
    if (s === undefined) return;
    s.lastUsed = Math.max(s.lastUsed, index);
    if (firstUnacked > s.firstUnacked) {
      s.firstUnacked = firstUnacked;
      for (const seq of s.answers.keys()) if (seq < firstUnacked) s.answers.delete(seq);
    }
  }
}
