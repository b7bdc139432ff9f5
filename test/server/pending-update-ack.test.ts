/**
 * Regression tests from a review of the ack path; the finding is fixed. File:line references below
 * describe the code as it was when the finding was written.
 *
 * REVIEW FINDING: the server acks an update it did not persist.
 *
 * src/eventual/sync/sync-core.ts:240-245 queues `concord-ack(received)` after every sync step 2 /
 * update that `Y.applyUpdate` did not throw on. But an update whose dependencies the document lacks
 * (a struct past the doc's state for its client, i.e. made after an earlier update the server never
 * got) does NOT integrate: Yjs parks it in `doc.store.pendingStructs` and emits no `update` event, so
 * the server store's persistence listener (src/eventual/eventual-store.ts:406-415) appends nothing
 * and the persist-before-send barrier (sync-driver.ts:147) lets the ack out at once. The client then
 * resolves that write at level "server" (server-acks.ts:183, `link.acked >= p.seq`) while the server
 * holds it only in memory: a server crash (or even a clean shutdown, shown here) loses it.
 *
 * A Concord client does this naturally: a write made offline (U1) travels only in the next first
 * step 2, so a write U2 made right after the socket opens (before the server's step 1 arrived) goes
 * out as a `sync-update` BEFORE the step 2 carrying U1, and its ack arrives as soon as the server
 * parked it. The raw socket below sends exactly that sequence, minus the step 2.
 */
import { afterEach, expect, it } from "vitest";
import * as Y from "yjs";
import { decodeMessage, encodeMessage } from "../../src/eventual/sync/protocol.js";
import { asDocId } from "../../src/ids.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import { rawSocket, runCleanups, start, within } from "./fixtures.js";

afterEach(runCleanups);

it("does not ack an update the server could only park as pending (missing dependencies)", async () => {
  const persistence = memoryStorage();
  const { server } = await start({ persistence });

  // The client's history: U1 (never sent, e.g. made offline), then U2 (depends on U1's clock range).
  const client = new Y.Doc();
  const map = client.getMap("concord");
  map.set("u1", "offline");
  const u1 = Y.encodeStateAsUpdate(client);
  const afterU1 = Y.encodeStateVector(client);
  map.set("u2", "sent live");
  const u2 = Y.encodeStateAsUpdate(client, afterU1);

  const { ws } = await rawSocket(server, "/pending");
  const acks: number[] = [];
  const gotAck = within(
    "the server's ack of message 1",
    new Promise<void>((resolve) => {
      ws.on("message", (data: Buffer) => {
        const m = decodeMessage(new Uint8Array(data));
        if (m.type === "concord-ack") {
          acks.push(m.received);
          resolve();
        }
      });
    }),
  );
  ws.send(encodeMessage({ type: "concord-hello", version: 1 }));
  ws.send(encodeMessage({ type: "sync-update", update: u2 }));
  gotAck.catch(() => undefined);

  // Wait for the ack (or the timeout: the fixed behaviour would be to not ack message 1 yet).
  const acked = await gotAck.then(
    () => true,
    () => false,
  );

  if (acked) {
    // "Acked" must mean "the server's storage holds it": close the client and shut the server down
    // cleanly (every room flushed), then read what the storage holds.
    expect(acks).toEqual([1]);
    ws.terminate();
    await server.close();
    const storage = await persistence.open(asDocId("pending"));
    const { snapshot, records } = await storage.load();
    const doc = new Y.Doc();
    if (snapshot) Y.applyUpdate(doc, snapshot);
    for (const r of records) Y.applyUpdate(doc, r);
    await storage.close();
    // FAILS today: the server acked U2, yet its storage holds nothing of it. Together with U1
    // (which the client still has), what the server stored must yield U2.
    Y.applyUpdate(doc, u1);
    expect(doc.getMap("concord").get("u2")).toBe("sent live");
  }
});
