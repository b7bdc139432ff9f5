/**
 * A client's session for exactly-once writes (Raft thesis 6.3; `strong/sessions.ts` is the node's
 * side): opened with the first write, it numbers every write 1, 2, 3... and tells the node, with each
 * write, the lowest number whose answer it still waits for. A write sent again keeps its number, so
 * the node applies it at most once, through whichever node and leader it reaches.
 *
 * When the node says the session expired (`SessionExpired`: too many sessions, or it was never
 * known), the next write opens a new one. Writes of the old session still in flight then have an
 * unknown outcome.
 */
import type { WireSession } from "../service/protocol.js";

/** One client's write session. */
export class WriteSession {
  readonly #open: () => Promise<number>;
  #id: number | undefined;
  #opening: Promise<number> | undefined;
  #next = 1;
  /** Sequence numbers sent and not answered yet. */
  readonly #outstanding = new Set<number>();

  /** `open` asks the group to open a session and resolves with its id. */
  constructor(open: () => Promise<number>) {
    this.#open = open;
  }

  /** The session's id, once opened. */
  get id(): number | undefined {
    return this.#id;
  }

  /** Opens the session if needed, and numbers one write of it. Rejects when the session cannot be opened. */
  async reserve(): Promise<{ readonly id: number; readonly seq: number }> {
    const id = this.#id ?? (await (this.#opening ??= this.#open().finally(() => (this.#opening = undefined))));
    if (this.#id !== id) {
      this.#id = id;
      this.#next = 1;
      this.#outstanding.clear();
    }
    const seq = this.#next++;
    this.#outstanding.add(seq);
    return { id, seq };
  }

  /** The stamp write `seq` of session `id` carries now. */
  stamp(id: number, seq: number): WireSession {
    let firstUnacked = this.#next;
    for (const s of this.#outstanding) firstUnacked = Math.min(firstUnacked, s);
    return { id, seq, firstUnacked };
  }

  /** Write `seq` of session `id` has its answer (an acknowledgement or a definite failure): the node may forget it. */
  answered(id: number, seq: number): void {
    if (id === this.#id) this.#outstanding.delete(seq);
  }

  /** Session `id` expired at the node: the next write opens a new one. */
  expired(id: number): void {
    if (id !== this.#id) return;
    this.#id = undefined;
    this.#outstanding.clear();
  }
}
