/**
 * What the sync server durably holds of this replica's writes: the `server` ack level, the store's
 * `whenSynced()`, and the server part of `status()`.
 *
 * Every update made on this replica (store writes, direct `Y.Doc` edits) travels to the server in
 * an update-bearing message of the current connection, whose number is known when the update is
 * made (`link.sent + 1`: the core queues it right after the store's listener ran). The server acks
 * message numbers once it stored them (see the `acks` option of `SyncCore`). Writes made while
 * disconnected, or on an earlier connection whose acks never came, travel in our first sync step 2
 * of the next connection, which carries everything we have.
 *
 * Against a stock y-websocket server (the handshake completes without a `concord-hello`), nothing
 * is ever acked: a write then counts as stored at the server once it is durable locally and the
 * handshake of the current connection is done, which is all a stock server lets us know.
 */
import type { Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import type { PeerId } from "../ids.js";
import type { LinkView, SyncCore } from "./sync/sync-core.js";

/** The server part of an eventual store's status. */
export interface ServerStatus {
  /** The server's peer id. */
  readonly peer: string;
  readonly connected: boolean;
  /** `concord`: the server acks what it stored; `stock`: a y-websocket server that can't; unknown before the first handshake. */
  readonly protocol: "concord" | "stock" | "unknown";
  /** Local updates the server is not known to hold durably yet. */
  readonly pendingWrites: number;
  /** Age in ms of the oldest of them, 0 when none. */
  readonly oldestPendingMs: number;
  /**
   * The connection as the transport sees it, for URL sync: `connecting`, `open`, `waiting` (backing
   * off before a retry), `offline` (the app called `disconnect()`), `closed` (for good: refused with
   * a 44xx code, or closed), with the attempt
   * count and the last close code and reason (4401 unauthorized, 4403 forbidden...).
   */
  readonly connection?: {
    readonly state: "connecting" | "open" | "waiting" | "offline" | "closed";
    readonly attempts: number;
    readonly lastClose?: { readonly code: number; readonly reason: string };
  };
}

interface Pending {
  /** The connection the update was queued on, and its message number there; `undefined` if none was up. */
  readonly epoch: number | undefined;
  readonly seq: number;
  readonly at: number;
  /** Local durability of the update (a stock server can't tell us more). */
  localDurable: boolean;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** See the module documentation. One per store with a sync server. */
export class ServerAcks {
  /** Updates queued on the current connection, in message order. */
  private current: Pending[] = [];
  /** Updates from earlier connections or made offline: covered by our next first step 2. */
  private earlier: Pending[] = [];
  private currentEpoch: number | undefined;
  private protocol: ServerStatus["protocol"] = "unknown";
  private readonly waiters = new Set<() => void>();
  private closedWith: ConcordError | undefined;

  constructor(
    private readonly core: SyncCore,
    private readonly server: PeerId,
    private readonly clock: Clock,
  ) {
    core.onLinkChange((peer, link) => {
      if (peer === this.server) this.advance(link);
    });
  }

  /**
   * Tracks one local update, made just now (from the store's `update` listener, before the core's).
   * `local` settles when the update is durable locally. The returned promise resolves once the server
   * holds it (see the module documentation), and rejects only when the store closes first.
   */
  track(local: Promise<void>): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const link = this.core.link(this.server);
    this.rollOver(link);
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = {
        epoch: link?.epoch,
        seq: link ? link.sent + 1 : 0,
        at: this.clock.now(),
        localDurable: false,
        resolve,
        reject,
      };
      (link ? this.current : this.earlier).push(entry);
      local.then(
        () => {
          entry.localDurable = true;
          const now = this.core.link(this.server);
          if (now) this.advance(now);
        },
        () => undefined, // a failed local write is the store's to report; the server never gets it
      );
    });
  }

  /**
   * Resolves once the server holds every update made here before the call, including what earlier
   * sessions left unsynced (our first step 2 of a connection carries all of it). Waits through
   * disconnections; rejects when the store closes first.
   */
  whenSynced(): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const mine = [...this.earlier, ...this.current];
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.closedWith) {
          this.waiters.delete(check);
          reject(this.closedWith);
          return;
        }
        const link = this.core.link(this.server);
        if (link === undefined || !this.handshakeStored(link)) return;
        if (mine.some((p) => !this.isStored(p, link))) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  status(): ServerStatus {
    const link = this.core.link(this.server);
    const pending = this.earlier.length + this.current.length;
    const oldest = Math.min(this.earlier[0]?.at ?? Infinity, this.current[0]?.at ?? Infinity);
    return {
      peer: this.server,
      connected: link !== undefined,
      protocol: this.protocol,
      pendingWrites: pending,
      oldestPendingMs: pending === 0 ? 0 : Math.max(0, this.clock.now() - oldest),
    };
  }

  /** Rejects everything still waiting with `error` (the store closed). Idempotent. */
  close(error: ConcordError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const p of [...this.earlier, ...this.current]) p.reject(error);
    this.earlier = [];
    this.current = [];
    for (const check of [...this.waiters]) check();
  }

  /** A new connection: what was queued on the old one travels again in the new first step 2. */
  private rollOver(link: LinkView | undefined): void {
    if (link === undefined || link.epoch === this.currentEpoch) return;
    this.currentEpoch = link.epoch;
    if (this.current.length > 0) {
      this.earlier.push(...this.current);
      this.current = [];
    }
  }

  private advance(link: LinkView): void {
    this.rollOver(link);
    if (link.synced) this.protocol = link.greeted ? "concord" : "stock";
    if (this.earlier.length > 0 && this.handshakeStored(link)) {
      const still = this.earlier.filter((p) => !p.localDurable);
      for (const p of this.earlier) if (p.localDurable) p.resolve();
      this.earlier = still;
    }
    let n = 0;
    while (n < this.current.length && this.isStored(this.current[n]!, link)) this.current[n++]!.resolve();
    if (n > 0) this.current.splice(0, n);
    for (const check of [...this.waiters]) check();
  }

  /** The server holds our first step 2 of this connection (with a stock server: the handshake is done). */
  private handshakeStored(link: LinkView): boolean {
    if (!link.synced) return false;
    if (!link.greeted) return true;
    return link.firstStep2 !== undefined && link.acked >= link.firstStep2;
  }

  private isStored(p: Pending, link: LinkView): boolean {
    if (!p.localDurable) return false;
    if (p.epoch !== link.epoch) return this.handshakeStored(link);
    return link.greeted ? link.acked >= p.seq : link.synced;
  }
}
