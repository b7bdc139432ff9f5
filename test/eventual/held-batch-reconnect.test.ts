/**
 * Regression tests from a review of the ack path; the finding is fixed. File:line references below
 * describe the code as it was when the finding was written.
 *
 * REVIEW FINDING: a batch held for local durability across a reconnect is sent on the NEW socket,
 * which shifts the server's per-connection message count against the client's.
 *
 * src/eventual/sync-driver.ts:143-162 queues an outbox batch behind the durability barrier and later
 * sends it with `transport.send(to, bytes)`; src/net/websocket-client.ts:230-242 sends to whatever
 * socket is current. A batch queued on connection N (an update counted in link N's `sent`) that
 * becomes durable after the socket dropped and reconnected goes out first on connection N+1, before
 * that connection's hello and step 1. The server counts it (sync-core.ts:242, `link.received++`
 * for any applied update, greeted or not), the client never counted it on link N+1
 * (sync-core.ts:414-421). From then on every `concord-ack(n)` the server sends means "your n-1
 * first messages": either n > sent (reported as a Protocol error and ignored, sync-core.ts:266, so
 * writes at level "server" hang until the next reconnect) or, when the client already sent more,
 * the ack covers a message the server does not hold yet (server-acks.ts:183 resolves it early).
 * The driver must drop (or the transport refuse) batches queued for a connection that is gone.
 */
import { afterEach, expect, it } from "vitest";
import { WebSocket } from "ws";
import * as Y from "yjs";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { DocStorage, Persistence } from "../../src/storage/storage.js";
import { onCleanup, recordingPersistence, runCleanups, start, waitFor, within } from "../server/fixtures.js";

afterEach(runCleanups);

/** `inner`, with the records whose append resolved (durable) readable at any time. */
function durableView(inner: Persistence) {
  const durable: Uint8Array[] = [];
  const persistence: Persistence = {
    name: "durable-view",
    async open(doc) {
      const s = await inner.open(doc);
      const loaded = await s.load();
      if (loaded.snapshot) durable.push(loaded.snapshot);
      durable.push(...loaded.records);
      const wrapped: DocStorage = {
        get maxRecordBytes() {
          return s.maxRecordBytes;
        },
        load: () => Promise.resolve(loaded),
        append(record) {
          const p = s.append(record);
          p.then(() => durable.push(record), () => undefined);
          return p;
        },
        compact: (snapshot) => s.compact(snapshot),
        shouldCompact: () => false,
        stats: () => s.stats(),
        flush: () => s.flush(),
        close: () => s.close(),
      };
      return wrapped;
    },
  };
  const has = (key: string): unknown => {
    const doc = new Y.Doc();
    for (const r of durable) Y.applyUpdate(doc, r);
    return doc.getMap("concord").get(key);
  };
  return { persistence, has };
}

it("a write held for local durability during a reconnect does not break the next connection's acks", async () => {
  const server = durableView(memoryStorage());
  const { server: srv } = await start({ persistence: server.persistence });

  const sockets: WebSocket[] = [];
  const opens: number[] = [];
  const wakers = new Set<() => void>();
  const wakeAll = (): void => {
    for (const w of [...wakers]) w();
  };
  class TrackingWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      const index = sockets.push(this) - 1;
      // Registered after the transport's onopen: runs once `up` was delivered.
      this.on("open", () => {
        opens.push(index);
        wakeAll();
      });
    }
  }
  const errors: unknown[] = [];
  const client = recordingPersistence(memoryStorage());
  const store = await openStore({
    mode: "eventual",
    doc: "held",
    persistence: client.persistence,
    onError: (e) => {
      errors.push(e);
      wakeAll();
    },
    sync: { url: srv.url, WebSocket: TrackingWebSocket as never, backoff: { initialMs: 1, jitter: 0 } },
  });
  onCleanup(() => store.close());
  await within("first sync", store.whenSynced());

  // A write whose local append is held: its outgoing update waits behind the barrier.
  const held = client.holdAppends();
  const a = store.set("a", 1, { ack: "server" });
  a.catch(() => undefined);
  await held.reached;

  // The connection drops and comes back while the batch is held.
  sockets[0]!.close();
  await waitFor("the second socket to open", () => opens.includes(1), (wake) => (wakers.add(wake), () => wakers.delete(wake)));
  held.release();

  await within("the held write to be acked at level server", a);
  await within("whenSynced after the reconnect", store.whenSynced());

  // A write on the new connection: acked at level server only once the server's storage holds it.
  let heldAtAck: unknown = "not acked";
  const b = store.set("b", 2, { ack: "server" }).then(() => {
    heldAtAck = server.has("b");
  });
  await within("the write on the new connection to be acked at level server", b).catch((e: unknown) => {
    throw new Error(`${String(e)}; errors reported: ${errors.map(String).join(" | ")}`);
  });
  expect(heldAtAck).toBe(2);
  expect(errors).toEqual([]);
});
