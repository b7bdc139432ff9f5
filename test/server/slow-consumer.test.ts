/**
 * Backpressure: a client that stops reading while its room keeps writing is closed with 1013 once
 * `maxBufferedBytes` wait for it, instead of growing the server's memory without bound; the writer
 * and other readers are untouched. Real sockets on 127.0.0.1; waits end on log entries and events.
 */
import { afterEach, describe, expect, it } from "vitest";
import { connect, docState, rawSocket, runCleanups, start, synced } from "./fixtures.js";

afterEach(runCleanups);

describe("a slow reader", () => {
  it("is closed with 1013 once maxBufferedBytes wait for it; the room and its other clients carry on", async () => {
    const maxBufferedBytes = 2 * 1024 * 1024; // more than any one message here, as it must be
    const { server, logged } = await start({ maxBufferedBytes });
    const slow = await rawSocket(server, "/room");
    slow.ws.pause(); // stops reading: the kernel's buffers fill, then the server's queue grows
    const writer = connect(server, "room");
    await synced(writer);

    // 40 updates of 500 kB each: far more than loopback socket buffers plus the limit.
    const text = writer.doc.getText("t");
    const chunk = "x".repeat(500_000);
    for (let i = 0; i < 40; i++) text.insert(text.length, chunk);

    const entry = await logged((e) => e.event === "conn.slow_consumer");
    expect(entry["maxBufferedBytes"]).toBe(maxBufferedBytes);
    expect(server.stats().metrics.slowConsumers).toBe(1);
    // A reader that joins now gets everything; the writer was never disturbed.
    const reader = connect(server, "room");
    await docState(reader, "every update at a new reader", (doc) => doc.getText("t").length === 40 * chunk.length);
    expect(writer.closeCodes).toEqual([]);

    slow.ws.resume(); // reads what was queued before the close, then the close itself
    expect(await slow.closed).toMatchObject({ code: 1013, reason: expect.stringMatching(/^too slow: more than 2097152 bytes waiting/) });
  });
});
