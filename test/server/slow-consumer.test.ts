/**
 * Backpressure: a client that stops reading while its room keeps writing is cut once
 * `maxBufferedBytes` wait for it, and however many clients stop reading, the bytes waiting for all
 * of them stay under `maxTotalBufferedBytes` (the biggest holders are cut); a cut releases the
 * connection's buffers at once (the server does not wait for a close handshake a non-reading client
 * would never answer). The writer and other readers are untouched. Real sockets on 127.0.0.1; waits
 * end on log entries and events.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BufferBudget, LOW_WATER_BYTES, type BufferedConnection } from "../../src/server/buffer-budget.js";
import { connect, docState, rawSocket, runCleanups, start, synced } from "./fixtures.js";

afterEach(runCleanups);

/** `n` updates of 500 kB each from a stock client: far more than loopback socket buffers plus the limits. */
async function flood(server: Parameters<typeof connect>[0], n: number): Promise<{ writer: ReturnType<typeof connect>; chunk: string }> {
  const writer = connect(server, "room");
  await synced(writer);
  const text = writer.doc.getText("t");
  const chunk = "x".repeat(500_000);
  for (let i = 0; i < n; i++) text.insert(text.length, chunk);
  return { writer, chunk };
}

describe("a slow reader", () => {
  it("is cut once maxBufferedBytes wait for it, its buffers released at once; the room and its other clients carry on", async () => {
    const maxBufferedBytes = 2 * 1024 * 1024; // more than any one message here, as it must be
    const { server, logged } = await start({ maxBufferedBytes });
    const slow = await rawSocket(server, "/room");
    slow.ws.pause(); // stops reading: the kernel's buffers fill, then the server's queue grows
    const { writer, chunk } = await flood(server, 40);

    const entry = await logged((e) => e.event === "conn.slow_consumer");
    expect(entry["maxBufferedBytes"]).toBe(maxBufferedBytes);
    expect(server.stats().metrics.slowConsumers).toBe(1);
    // Cut at once: the server closes its side without waiting for the client, which reads nothing.
    await logged((e) => e.event === "conn.close" && e["conn"] === entry["conn"]);
    expect(server.stats().buffered.bytes).toBeLessThan(maxBufferedBytes);
    // A reader that joins now gets everything; the writer was never disturbed.
    const reader = connect(server, "room");
    await docState(reader, "every update at a new reader", (doc) => doc.getText("t").length === 40 * chunk.length);
    expect(writer.closeCodes).toEqual([]);

    slow.ws.resume(); // reads what reached its socket before the cut, then sees the connection end
    expect(await slow.closed).toMatchObject({ code: 1006 });
  });

  it("many readers that stop reading: the bytes waiting for all of them stay under maxTotalBufferedBytes, the longest backlogged cut", async () => {
    // Each cap above the document (20 MB, the largest message: a joiner's sync step 2), as they must be.
    const maxBufferedBytes = 24 * 1024 * 1024;
    const maxTotalBufferedBytes = 32 * 1024 * 1024;
    const { server, logged, logs } = await start({ maxBufferedBytes, maxTotalBufferedBytes });
    const slow = await Promise.all(Array.from({ length: 6 }, () => rawSocket(server, "/room")));
    for (const s of slow) s.ws.pause();
    const { writer, chunk } = await flood(server, 40);

    const dropped = await logged((e) => e.event === "conn.dropped" && /the server holds more than 33554432 bytes/.test(String(e["reason"])));
    expect(Number(dropped["bufferedBytes"])).toBeGreaterThan(0);
    // A reader joining now takes the whole document in one message and reads it: it is not the one cut.
    const reader = connect(server, "room");
    await docState(reader, "every update at a new reader", (doc) => doc.getText("t").length === 40 * chunk.length);
    const stats = server.stats();
    expect(stats.buffered.dropped).toBeGreaterThan(0);
    expect(stats.buffered.max).toBe(maxTotalBufferedBytes);
    expect(stats.buffered.bytes).toBeLessThanOrEqual(maxTotalBufferedBytes);
    expect(logs.filter((e) => e.event === "conn.dropped").length).toBeGreaterThanOrEqual(3);
    expect(writer.closeCodes).toEqual([]);
    expect(reader.closeCodes).toEqual([]);
  });
});

describe("BufferBudget", () => {
  /** A connection whose waiting bytes the test sets, tracked by `budget`. */
  const tracked = (budget: BufferBudget, name: string, log: string[]) => {
    const conn: BufferedConnection & { bytes: number } = {
      bytes: 0,
      get bufferedBytes() {
        return this.bytes;
      },
      drop: (why) => void log.push(`${name}: ${why}`),
    };
    return { conn, held: budget.track(conn) };
  };
  const KB = 1024;

  it("cuts the connection backlogged the longest first, re-reading what drained unseen before cutting anything", () => {
    const log: string[] = [];
    let now = 0;
    const budget = new BufferBudget(1_000 * KB, () => now);
    const [slow, other, joiner] = [tracked(budget, "slow", log), tracked(budget, "other", log), tracked(budget, "joiner", log)];
    slow.conn.bytes = 300 * KB;
    budget.update(slow.held); // backlogged since 0
    now = 10;
    other.conn.bytes = 600 * KB;
    budget.update(other.held); // backlogged since 10
    expect([budget.total, log]).toEqual([900 * KB, []]);
    // other drained unseen: the stale total (1,300 KB) is past the cap, so it is re-read (700 KB) first.
    other.conn.bytes = 0;
    now = 20;
    joiner.conn.bytes = 400 * KB;
    budget.update(joiner.held);
    expect([budget.total, log]).toEqual([700 * KB, []]);
    // Past the cap for real: the one backlogged longest (slow, not the bigger joiner) goes.
    now = 30;
    other.conn.bytes = 400 * KB;
    budget.update(other.held);
    expect(log).toEqual([`slow: the server holds more than ${1_000 * KB} bytes waiting for its clients (this one: ${300 * KB})`]);
    expect([budget.total, budget.dropped]).toEqual([800 * KB, 1]);
    // A cut or closed connection counts no more, whatever it is asked.
    slow.conn.bytes = 900 * KB;
    budget.update(slow.held);
    expect(budget.total).toBe(800 * KB);
    budget.remove(joiner.held);
    budget.remove(joiner.held);
    expect(budget.total).toBe(400 * KB);
  });

  it("a connection that kept up (at most the low-water mark) starts its backlog clock again; equals go biggest first", () => {
    const log: string[] = [];
    let now = 0;
    const budget = new BufferBudget(200 * KB, () => now);
    const [a, b] = [tracked(budget, "a", log), tracked(budget, "b", log)];
    a.conn.bytes = 100 * KB;
    budget.update(a.held); // since 0
    a.conn.bytes = LOW_WATER_BYTES; // kept up: its clock stops
    budget.update(a.held);
    now = 5;
    a.conn.bytes = 90 * KB;
    budget.update(a.held); // since 5
    b.conn.bytes = 120 * KB;
    budget.update(b.held); // since 5, bigger: goes first
    expect(log).toEqual([`b: the server holds more than ${200 * KB} bytes waiting for its clients (this one: ${120 * KB})`]);
    expect(budget.total).toBe(90 * KB);
  });
});
