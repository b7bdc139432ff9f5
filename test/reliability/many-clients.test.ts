/**
 * 200 Concord clients on 20 documents through one `concord serve` child process: random edits
 * (seeded), every document converges, and once everyone has left the server unloads every room
 * and its memory returns near where it started.
 *
 * Memory is read from the server process itself: `/proc/<pid>/status` VmRSS, and its live heap
 * after a forced full GC (the server runs with `--expose-gc` and `fixtures/heap-probe.mjs`
 * preloaded, which answers SIGUSR2 with `process.memoryUsage()` after `gc()`). The baseline is taken
 * after a warm-up document was loaded and unloaded, so one-time costs (lazily loaded modules,
 * compiled code) are not mistaken for a leak.
 *
 * Tolerance: after the unload, the live heap must be back within 4 MiB or a quarter of its growth
 * at peak (whichever is larger) of the baseline. Measured on a 2-core VM: baseline 6.7 MiB, peak
 * 16.0 MiB, after unload 8.2 MiB; repeated rounds of 800 connections plateau within 2.5 MiB of the
 * first, so what stays is V8's own (compiled code, caches), not per-connection or per-document
 * state. Holding on to the unloaded documents alone (about 6 MiB of strings) would fail it.
 * RSS is reported and only bounded by the peak (+16 MiB): V8 and malloc give pages back to the OS
 * lazily, so RSS measured 117-130 MiB at peak and 98-118 MiB after unload, from 61-64 MiB.
 */
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import * as Y from "yjs";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import { seededRng, type Rng } from "../../src/rng.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import {
  concordClient,
  dumpEntries,
  isEvent,
  rssBytes,
  runCleanups,
  startServerProcess,
  storeState,
  tempDir,
  within,
  withSeed,
  type ServerProcess,
} from "./harness.js";

afterEach(runCleanups);

const CLIENTS = 200;
const DOCUMENTS = 20;
/** Operations per client (sets, deletes, small transactions) over a shared set of keys per document. */
const OPS_PER_CLIENT = 8;
const KEYS_PER_DOC = 24;
const IDLE_UNLOAD_MS = 200;
/** One string of this length per client: 200 x 32 KiB, about 6 MiB of documents on the server. */
const BULK_CHARS = 32 * 1024;
const HEAP_SLACK_BYTES = 4 * 1024 * 1024;
const RSS_OVER_PEAK_BYTES = 16 * 1024 * 1024;
const HEAP_PROBE = fileURLToPath(new URL("./fixtures/heap-probe.mjs", import.meta.url));

interface Memory {
  readonly heapUsed: number;
  readonly rss: number;
}

/** The server's live heap after a full GC, and its RSS. */
async function probeMemory(server: ServerProcess): Promise<Memory> {
  const from = server.stdoutLines.length;
  server.child.kill("SIGUSR2");
  const line = await server.line(/^heap-probe /, from, "a heap probe");
  const probe = JSON.parse(line.slice("heap-probe ".length)) as { heapUsed: number; rss: number; gc: boolean };
  expect(probe.gc, "the server runs with --expose-gc").toBe(true);
  return { heapUsed: probe.heapUsed, rss: rssBytes(server.pid) };
}

/** One random operation of `store` (seeded), acknowledged locally. */
function randomEdit(rng: Rng, store: EventualStore, by: number, n: number): Promise<unknown> {
  const key = (): string => `k${rng.int(0, KEYS_PER_DOC - 1)}`;
  const roll = rng.next();
  if (roll < 0.6) return store.set(key(), { by, n, tags: rng.chance(0.3) ? ["a", "b"] : [] });
  if (roll < 0.8) return store.delete(key());
  return store.transact((tx) => {
    tx.set(key(), { by, n, batch: true });
    tx.delete(key());
    tx.set(key(), rng.int(0, 1000));
  });
}

const MiB = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

describe("200 clients on 20 documents", () => {
  const name = "converge per document, then every room unloads and the server's memory returns near its baseline";
  it(name, async () => {
    await withSeed("test/reliability/many-clients.test.ts", name, async (seed) => {
      const rng = seededRng(seed);
      const dataDir = tempDir();
      const server = await startServerProcess({
        port: 0,
        dataDir,
        extra: ["--idle-unload-ms", String(IDLE_UNLOAD_MS)],
        nodeArgs: ["--expose-gc", "--import", HEAP_PROBE],
      });
      const unloaded = isEvent("room.unloaded");

      // Warm-up: one document loaded, written, left and unloaded, so the baseline has the code paths loaded.
      const warm = await concordClient(server.url, "warm-up", memoryStorage());
      await warm.set("k", "v", { ack: "server" });
      await warm.close();
      await server.stderrCount(unloaded, 1);
      const baseline = await probeMemory(server);
      const unloadsBefore = server.stderrLines.filter(unloaded).length;

      // 200 clients, 10 per document, all connected at once.
      const docOf = (i: number): string => `doc-${i % DOCUMENTS}`;
      const stores = await within(
        `${CLIENTS} clients to open`,
        Promise.all(Array.from({ length: CLIENTS }, (_, i) => concordClient(server.url, docOf(i), memoryStorage()))),
      );

      // Random edits: rounds, so that clients interleave; one write in four is acknowledged by the
      // server; and some bulk per client, so that the documents weigh on the server's heap.
      const writes: Array<Promise<unknown>> = [];
      for (let n = 0; n < OPS_PER_CLIENT; n++) {
        for (const [i, store] of stores.entries()) {
          writes.push(rng.chance(0.25) ? store.set(`acked:${i}:${n}`, n, { ack: "server" }) : randomEdit(rng, store, i, n));
        }
      }
      for (const [i, store] of stores.entries()) writes.push(store.set(`bulk:${i}`, `${i}:`.padEnd(BULK_CHARS, String.fromCharCode(97 + (i % 26)))));
      await within("every write to be acknowledged", Promise.all(writes));
      await within("every client's writes to reach the server", Promise.all(stores.map((s) => s.whenSynced())));

      // Each document converges: every client has every other client's edits, and the same entries.
      for (let d = 0; d < DOCUMENTS; d++) {
        const members = stores.filter((_, i) => i % DOCUMENTS === d);
        const wanted = new Map(members.map((s) => [s.ydoc.clientID, Y.getState(s.ydoc.store, s.ydoc.clientID)]));
        const hasAll = (s: EventualStore): boolean => {
          const sv = Y.decodeStateVector(Y.encodeStateVector(s.ydoc));
          return [...wanted].every(([client, clock]) => (sv.get(client) ?? 0) >= clock);
        };
        for (const s of members) await storeState(s, `doc-${d}: a client to have every edit`, () => hasAll(s));
        const first = JSON.stringify(members[0]!.entriesLocal());
        for (const s of members) expect(JSON.stringify(s.entriesLocal()), `doc-${d}`).toBe(first);
        expect(members[0]!.entriesLocal().length).toBeGreaterThan(0);
      }
      const peak = await probeMemory(server);
      const health = (await (await fetch(`${server.url.replace(/^ws:/, "http:")}/healthz`)).json()) as { documents: number; connections: number };
      expect(health).toEqual({ status: "ok", documents: DOCUMENTS, connections: CLIENTS });
      const sample = stores[3]!.entriesLocal();

      // Everyone leaves: every room unloads (flushed) and memory comes back.
      await within("every client to close", Promise.all(stores.map((s) => s.close())));
      await server.stderrCount(unloaded, unloadsBefore + DOCUMENTS);
      const after = await probeMemory(server);
      const idle = (await (await fetch(`${server.url.replace(/^ws:/, "http:")}/healthz`)).json()) as { documents: number; connections: number };
      expect(idle).toMatchObject({ documents: 0, connections: 0 });

      const report =
        `heap: baseline ${MiB(baseline.heapUsed)}, peak ${MiB(peak.heapUsed)}, after unload ${MiB(after.heapUsed)}; ` +
        `rss: baseline ${MiB(baseline.rss)}, peak ${MiB(peak.rss)}, after unload ${MiB(after.rss)}`;
      if (process.env["REL_DEBUG"]) console.log(report);
      const heapGrowth = Math.max(0, peak.heapUsed - baseline.heapUsed);
      expect(after.heapUsed - baseline.heapUsed, report).toBeLessThanOrEqual(Math.max(HEAP_SLACK_BYTES, heapGrowth / 4));
      expect(after.rss, report).toBeLessThanOrEqual(peak.rss + RSS_OVER_PEAK_BYTES);

      // What the clients converged on is what the server stored.
      expect(await server.kill("SIGTERM")).toEqual({ code: 0, signal: null });
      expect(await dumpEntries(dataDir, docOf(3))).toEqual(sample.map(([k, v]) => [k, v]));
    });
  });
});
