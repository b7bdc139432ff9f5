/**
 * The changes an engine applies, fanned out to the subscriptions of every client session by
 * document, with a bounded history of the recent ones so that a subscription can start from a
 * position in the past (an etcd watch from a revision): a client that subscribes from the newest
 * position it knew hears every change after it, those made while it was subscribing or away
 * included.
 *
 * The history holds every change after {@link ChangeFeed.start}: at first the engine's position
 * when the feed began, then the position of the newest change evicted to keep the history within
 * `maxHistoryBytes`, or of the newest replacement of the whole state (a snapshot installed: what
 * came before may not be this history any more). A subscription from `from` is replayed when
 * `from` is at or after the start, at or before the engine's position, and on the engine's
 * history (`holds`); otherwise it starts from now and says so (`replayed: false`), and the client
 * catches up another way.
 *
 * Memory: at most `maxHistoryBytes` of writes, counted by their encoded size (or, when the engine
 * does not know it, roughly by their keys), plus one listener set per document with subscribers.
 */
import type { Change } from "../store.js";
import type { EngineChange, ServedEngine } from "./engine.js";
import type { WirePosition } from "./protocol.js";

/** Bytes of recent writes a feed keeps for subscriptions that start in the past, by default (32 MiB). */
export const DEFAULT_MAX_HISTORY_BYTES = 32 * 1024 * 1024;

/** Hears the changes of one document. MUST NOT throw. */
export type FeedListener = (change: EngineChange) => void;

/** What {@link ChangeFeed.subscribe} did. */
export interface FeedSubscription {
  readonly unsubscribe: () => void;
  /**
   * The changes of the document after `from` up to {@link position}, oldest first, when the history
   * holds them all; null when it does not (or no `from` was given). The listener hears only the
   * changes made after `subscribe` returned: these are the caller's to hand over first.
   */
  readonly replay: readonly EngineChange[] | null;
  /** The engine's position when the subscription took effect. */
  readonly position: WirePosition;
}

/** One engine's changes, by document, with a bounded history (see the module comment). Owns its engine listener. */
export class ChangeFeed {
  readonly #engine: ServedEngine;
  readonly #maxBytes: number;
  readonly #listeners = new Map<string, Set<FeedListener>>();
  /** Recent changes, oldest first, each with what it counts for. */
  #history: { readonly change: EngineChange; readonly bytes: number }[] = [];
  #historyBytes = 0;
  /** Entries of `#history` before this index are evicted (the array is trimmed in steps, so eviction is O(1) amortized). */
  #head = 0;
  #start: WirePosition;
  readonly #stop: () => void;

  constructor(engine: ServedEngine, maxHistoryBytes = DEFAULT_MAX_HISTORY_BYTES) {
    this.#engine = engine;
    this.#maxBytes = maxHistoryBytes;
    this.#start = engine.freshness().position;
    this.#stop = engine.subscribe((c) => this.#applied(c));
  }

  /** Every change after this position is in the history. */
  get start(): WirePosition {
    return this.#start;
  }

  /** Changes the history holds now. */
  get size(): number {
    return this.#history.length - this.#head;
  }

  /**
   * Hands `listener` every change of `doc` from now on, until unsubscribed; with `from`, returns
   * the changes of `doc` after `from` too, when the history holds them all (see the module comment).
   */
  subscribe(doc: string, from: WirePosition | null, listener: FeedListener): FeedSubscription {
    const position = this.#engine.freshness().position;
    let replay: EngineChange[] | null = null;
    if (from !== null && this.#replayable(from, position)) {
      replay = [];
      for (let i = this.#head; i < this.#history.length; i++) {
        const { change } = this.#history[i]!;
        if (change.doc === doc && change.position.lsn > from.lsn) replay.push(change);
      }
    }
    let set = this.#listeners.get(doc);
    if (set === undefined) this.#listeners.set(doc, (set = new Set()));
    set.add(listener);
    const unsubscribe = (): void => {
      const current = this.#listeners.get(doc);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.#listeners.delete(doc);
    };
    return { unsubscribe, replay, position };
  }

  /** Stops listening to the engine; subscriptions hear nothing more. */
  close(): void {
    this.#stop();
    this.#listeners.clear();
    this.#history = [];
    this.#head = 0;
    this.#historyBytes = 0;
  }

  #replayable(from: WirePosition, now: WirePosition): boolean {
    if (from.lsn < this.#start.lsn || from.lsn > now.lsn) return false;
    return this.#engine.holds(from);
  }

  #applied(c: EngineChange): void {
    if (c.replaced) {
      this.#history = [];
      this.#head = 0;
      this.#historyBytes = 0;
      this.#start = c.position;
    }
    const bytes = Math.max(c.bytes, estimate(c.changes));
    this.#history.push({ change: c, bytes });
    this.#historyBytes += bytes;
    while (this.#historyBytes > this.#maxBytes && this.#head < this.#history.length) {
      const evicted = this.#history[this.#head++]!;
      this.#historyBytes -= evicted.bytes;
      this.#start = evicted.change.position;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#history.length) {
      this.#history = this.#history.slice(this.#head);
      this.#head = 0;
    }
    const listeners = this.#listeners.get(c.doc);
    if (listeners === undefined) return;
    // A copy: a listener may unsubscribe (itself or another) while it is told.
    for (const l of [...listeners]) l(c);
  }
}

/** What changes count for when the engine does not know the write's size: their keys, and a little each. */
function estimate(changes: readonly Change[]): number {
  let n = 0;
  for (const c of changes) n += 32 + 2 * c.key.length;
  return n;
}
