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

/** What the budget knows of one connection: what it held when last seen, and since when it is backlogged. */
export interface Held {
  readonly conn: BufferedConnection;
  bytes: number;
  /** Since when it has held more than {@link LOW_WATER_BYTES} without a break; null while it keeps up. */
  since: number | null;
  gone: boolean;
}

export class BufferBudget {
  readonly max: number;
  readonly #now: () => number;
  /** Connections holding anything when last seen. */
  readonly #holders = new Set<Held>();
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

  /** Starts counting `conn`: the handle it passes to {@link update} and {@link remove}. */
  track(conn: BufferedConnection): Held {
    return { conn, bytes: 0, since: null, gone: false };
  }

  /**
   * Records what `h`'s connection holds now (after a send: a few field reads on the fan-out path,
   * no lookup); cuts connections while the total is past the cap.
   */
  update(h: Held): void {
    if (h.gone) return;
    this.#see(h);
    if (this.#total <= this.max) return;
    for (const other of this.#holders) this.#see(other);
    while (this.#total > this.max) {
      const victim = this.#victim();
      if (victim === undefined) return;
      const bytes = victim.bytes;
      this.remove(victim);
      this.#dropped++;
      victim.conn.drop(`the server holds more than ${this.max} bytes waiting for its clients (this one: ${bytes})`);
    }
  }

  /** Stops counting `h` (its connection closed or was cut). */
  remove(h: Held): void {
    if (h.gone) return;
    h.gone = true;
    this.#total -= h.bytes;
    h.bytes = 0;
    this.#holders.delete(h);
  }

  #see(h: Held): void {
    const bytes = h.conn.bufferedBytes;
    const was = h.bytes;
    if (bytes === was) return;
    this.#total += bytes - was;
    h.bytes = bytes;
    if (was === 0) this.#holders.add(h);
    else if (bytes === 0) this.#holders.delete(h);
    if (bytes <= LOW_WATER_BYTES) h.since = null;
    else h.since ??= this.#now();
  }

  /** The connection backlogged the longest, the biggest of equals. */
  #victim(): Held | undefined {
    let best: Held | undefined;
    for (const h of this.#holders) {
      if (best === undefined) {
        best = h;
        continue;
      }
      const older = (h.since ?? Infinity) < (best.since ?? Infinity);
      const same = (h.since ?? Infinity) === (best.since ?? Infinity);
      if (older || (same && h.bytes > best.bytes)) best = h;
    }
    return best;
  }
}
