/**
 * The server-wide cap on bytes waiting to be sent to clients (`maxTotalBufferedBytes`). Each
 * connection has its own cap (`maxBufferedBytes`), but a few clients that stop reading could each
 * hold nearly that much: this bounds the sum. Whenever a send leaves the sum past the cap, the
 * budget re-reads what every connection really holds (sockets drain unseen between sends) and, if
 * still past it, cuts connections until it is not: first the one backlogged the longest (above
 * {@link LOW_WATER_BYTES} without a break: a client that does not read), the biggest of equals, so
 * that a client that just joined and is taking the document's state in one big message goes last.
 * A cut connection's buffers are released at once; its client reconnects and resyncs by state
 * vector (nothing lost).
 */

/** A connection holding at most this many bytes is keeping up. */
export const LOW_WATER_BYTES = 64 * 1024;

/** A connection as the budget sees it. */
export interface BufferedConnection {
  /** Bytes waiting to be sent to it now. */
  readonly bufferedBytes: number;
  /** Cuts it at once, releasing its buffers (`why` is for its log entry). */
  drop(why: string): void;
}

interface Held {
  bytes: number;
  /** Since when it has held more than {@link LOW_WATER_BYTES} without a break; null while it keeps up. */
  since: number | null;
}

export class BufferBudget {
  readonly max: number;
  readonly #now: () => number;
  /** What each connection held when last seen. */
  readonly #held = new Map<BufferedConnection, Held>();
  #total = 0;
  #dropped = 0;

  /** `now`: ms, for how long a connection has been backlogged. */
  constructor(max: number, now: () => number) {
    this.max = max;
    this.#now = now;
  }

  /** Bytes waiting for every connection, as last seen (at most the truth plus what drained since). */
  get total(): number {
    return this.#total;
  }

  /** Connections cut to keep the total under the cap, since start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Records what `c` holds now (after a send); cuts connections while the total is past the cap. */
  update(c: BufferedConnection): void {
    this.#see(c);
    if (this.#total <= this.max) return;
    for (const other of this.#held.keys()) this.#see(other);
    while (this.#total > this.max) {
      const victim = this.#victim();
      if (victim === undefined) return;
      const bytes = this.#held.get(victim)!.bytes;
      this.remove(victim);
      this.#dropped++;
      victim.drop(`the server holds more than ${this.max} bytes waiting for its clients (this one: ${bytes})`);
    }
  }

  /** Forgets `c` (closed). */
  remove(c: BufferedConnection): void {
    this.#total -= this.#held.get(c)?.bytes ?? 0;
    this.#held.delete(c);
  }

  #see(c: BufferedConnection): void {
    const bytes = c.bufferedBytes;
    let held = this.#held.get(c);
    if (held === undefined) {
      held = { bytes: 0, since: null };
      this.#held.set(c, held);
    }
    this.#total += bytes - held.bytes;
    held.bytes = bytes;
    if (bytes <= LOW_WATER_BYTES) held.since = null;
    else held.since ??= this.#now();
  }

  /** The connection backlogged the longest, the biggest of equals. */
  #victim(): BufferedConnection | undefined {
    let best: [BufferedConnection, Held] | undefined;
    for (const entry of this.#held) {
      const [, h] = entry;
      if (h.bytes === 0) continue;
      if (best === undefined) {
        best = entry;
        continue;
      }
      const b = best[1];
      const older = (h.since ?? Infinity) < (b.since ?? Infinity);
      const same = (h.since ?? Infinity) === (b.since ?? Infinity);
      if (older || (same && h.bytes > b.bytes)) best = entry;
    }
    return best?.[0];
  }
}
