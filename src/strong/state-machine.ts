/**
 * The replicated state machine of `strong` mode: what every server applies from committed Raft
 * entries, in log order. Pure and deterministic: servers that apply the same entries hold equal
 * states and write equal snapshots.
 *
 * It holds the key-value state of every document (one {@link KvState}, documents as keyspaces,
 * `kv/doc-keys.ts`) and the client sessions (`sessions.ts`). A write applies its ops atomically
 * when all its conditions hold (etcd's Txn), and otherwise changes nothing; in a session it
 * applies at most once. A committed entry whose data is not a command (only a faulty proposer makes
 * one) changes nothing, on every server alike.
 */
import { ConcordError } from "../errors.js";
import { docKey } from "../kv/doc-keys.js";
import { changesByDoc } from "../kv/doc-keys.js";
import { KvState, jsonEqual } from "../kv/kv-state.js";
import type { KvWrite } from "../kv/ops.js";
import type { WriteCondition } from "../service/protocol.js";
import type { Change } from "../store.js";
import { decodeCommand, decodeStateSnapshot, encodeStateSnapshot, type CommandTag, type StrongCommand } from "./commands.js";
import type { Entry } from "./raft/types.js";
import { SessionTable, type SessionAnswer } from "./sessions.js";

/** What applying one entry did, for whoever waits for it (the tag names the proposer's command). */
export type AppliedEntry =
  /** A noop or membership entry, or one whose data is not a command: nothing to tell. */
  | { readonly kind: "none"; readonly invalid: string | null }
  | {
      readonly kind: "write";
      readonly tag: CommandTag;
      readonly doc: string;
      /** Where the write applied: this entry, or for a retry in a session the entry that first applied it. */
      readonly answer: SessionAnswer;
      /** The keys of `doc` this entry changed (none for a retry, or a write whose conditions failed). */
      readonly changes: readonly Change[];
    }
  | { readonly kind: "session-opened"; readonly tag: CommandTag; readonly session: number }
  | { readonly kind: "session-closed"; readonly tag: CommandTag }
  /** A write not applied: its session is unknown (`SessionExpired`). */
  | { readonly kind: "refused"; readonly tag: CommandTag; readonly error: ConcordError };

/** The state machine (see the module comment). */
export class StrongStateMachine {
  #state: KvState;
  readonly #sessions: SessionTable;
  #index: number;
  #term: number;

  constructor(state = new KvState(), sessions = new SessionTable(), index = 0, term = 0) {
    this.#state = state;
    this.#sessions = sessions;
    this.#index = index;
    this.#term = term;
  }

  /** The state machine a snapshot of {@link encode} holds. @throws ConcordError `Protocol` for bytes that are not one. */
  static decode(bytes: Uint8Array, maxSessions?: number): StrongStateMachine {
    const s = decodeStateSnapshot(bytes);
    const sessions = new SessionTable(maxSessions);
    for (const [id, state] of s.sessions) sessions.restore(id, state);
    return new StrongStateMachine(KvState.decode(s.state), sessions, s.index, s.term);
  }

  /** The key-value state (documents as keyspaces). Do not mutate. */
  get state(): KvState {
    return this.#state;
  }

  get sessions(): SessionTable {
    return this.#sessions;
  }

  /** Index and term of the last entry applied. */
  get index(): number {
    return this.#index;
  }

  get term(): number {
    return this.#term;
  }

  /** The canonical snapshot of the state machine. */
  encode(): Uint8Array {
    return encodeStateSnapshot({ index: this.#index, term: this.#term, state: this.#state.encode(), sessions: this.#sessions.entries() });
  }

  /** Applies committed `entry`, the one after {@link index}. */
  apply(entry: Entry): AppliedEntry {
    if (entry.index !== this.#index + 1) {
      throw new ConcordError("Corrupt", `the state machine applied entry ${this.#index} and is handed entry ${entry.index}: entries must be applied in order, each once`, {
        applied: this.#index,
        entry: entry.index,
      });
    }
    this.#index = entry.index;
    this.#term = entry.term;
    if (entry.kind !== "normal") return { kind: "none", invalid: null };
    let command: StrongCommand;
    try {
      command = decodeCommand(entry.data);
    } catch (e) {
      return { kind: "none", invalid: e instanceof Error ? e.message : String(e) };
    }
    return this.#run(command, entry);
  }

  #run(c: StrongCommand, entry: Entry): AppliedEntry {
    switch (c.kind) {
      case "open-session":
        this.#sessions.open(entry.index);
        return { kind: "session-opened", tag: c.tag, session: entry.index };
      case "close-session":
        this.#sessions.close(c.session);
        return { kind: "session-closed", tag: c.tag };
      case "write": {
        const here: SessionAnswer = { index: entry.index, term: entry.term, succeeded: false };
        const s = c.session;
        if (s !== null) {
          const check = this.#sessions.check(s.id, s.seq);
          if (check.kind === "expired") {
            return { kind: "refused", tag: c.tag, error: new ConcordError("SessionExpired", `${check.why}; the write was not applied: open a new session`, { session: s.id, seq: s.seq }) };
          }
          if (check.kind === "duplicate") {
            this.#sessions.touch(s.id, entry.index, s.firstUnacked);
            return { kind: "write", tag: c.tag, doc: c.doc, answer: check.answer, changes: [] };
          }
        }
        const succeeded = c.conditions.every((cond) => this.#holds(c.doc, cond));
        let changes: readonly Change[] = [];
        if (succeeded) {
          const writes = c.ops.map((op): KvWrite => (op.kind === "set" ? { kind: "set", key: docKey(c.doc, op.key), value: op.value } : { kind: "delete", key: docKey(c.doc, op.key) }));
          changes = changesByDoc(this.#state.apply({ kind: "batch", ops: writes })).get(c.doc) ?? [];
        }
        const answer = { ...here, succeeded };
        if (s !== null) this.#sessions.applied(s.id, s.seq, s.firstUnacked, answer);
        return { kind: "write", tag: c.tag, doc: c.doc, answer, changes };
      }
    }
  }

  #holds(doc: string, c: WriteCondition): boolean {
    const value = this.#state.get(docKey(doc, c.key));
    switch (c.test) {
      case "absent":
        return value === undefined;
      case "present":
        return value !== undefined;
      case "equals":
        return value !== undefined && jsonEqual(value, c.value);
    }
  }
}
