/**
 * A sync server killed mid-stream (SIGKILL, no shutdown) loses nothing it acknowledged.
 *
 * `concord serve` runs as a child process on a fixed port with a data folder; three Concord clients
 * (two on memory storage, one on file storage) write continuously with `{ ack: "server" }`,
 * several writes in flight each. After N server acks the server is SIGKILLed, then restarted on
 * the same port and folder; the clients reconnect by themselves and keep writing.
 *
 * Checked: every write the server acknowledged before the kill is in its folder right after the
 * kill (`concord dump` on the dead server's data, before any client could hand it over again);
 * at the end every write made, acknowledged before or after the crash or still pending at it, is
 * on the server (a fresh client, and `concord dump` once it stopped) and every client holds the
 * same entries.
 */
import { afterEach, describe, expect, it } from "vitest";
import { fileStorage } from "../../src/storage/file-storage.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import {
  concordClient,
  dumpEntries,
  freePort,
  runCleanups,
  startServerProcess,
  storeState,
  tempDir,
  waitFor,
  within,
} from "./harness.js";

afterEach(runCleanups);

const DOC = "crash-doc";
/** Server crashes (SIGKILL, then restart) in one run. */
const CRASHES = 2;
/** Server acks (all clients together) between crashes. */
const ACKS_BEFORE_KILL = 150;
/** Server acks per client after the restart before the clients stop writing. */
const ACKS_AFTER_RESTART = 20;
/** Writes each client keeps in flight. */
const WINDOW = 4;

interface Writer {
  readonly name: string;
  readonly store: EventualStore;
  /** Every key this writer wrote, acknowledged or not. */
  readonly written: Map<string, unknown>;
  /** Keys the server acknowledged, with the value. */
  readonly acked: Map<string, unknown>;
  /** Writes that rejected (none should). */
  readonly failures: unknown[];
  /** One more write, outside the lanes (e.g. while the server is down). */
  writeOne(): void;
  stop(): Promise<void>;
}

/** Writes `${name}:${i}` continuously, `WINDOW` at a time, recording what the server acknowledged. */
function startWriting(name: string, store: EventualStore, onAck: () => void): Writer {
  const written = new Map<string, unknown>();
  const acked = new Map<string, unknown>();
  const failures: unknown[] = [];
  let next = 0;
  let stopping = false;
  const writeOne = async (): Promise<boolean> => {
    const i = next++;
    const key = `${name}:${String(i).padStart(5, "0")}`;
    const value = { writer: name, i };
    written.set(key, value);
    try {
      const ack = await store.set(key, value, { ack: "server" });
      if (ack.level !== "server") throw new Error(`${key} acknowledged at level ${ack.level}`);
      acked.set(key, value);
      onAck();
      return true;
    } catch (e) {
      failures.push(e);
      return false;
    }
  };
  const extra: Array<Promise<boolean>> = [];
  const lane = async (): Promise<void> => {
    while (!stopping && (await writeOne()));
  };
  const lanes = Array.from({ length: WINDOW }, lane);
  return {
    name,
    store,
    written,
    acked,
    failures,
    writeOne: () => void extra.push(writeOne()),
    async stop() {
      stopping = true;
      await within(`${name}'s writes in flight to be acknowledged`, Promise.all([...lanes, ...extra]));
    },
  };
}

describe("server crash (SIGKILL) while clients write with ack: server", () => {
  it("keeps every acknowledged write; clients reconnect on their own and converge", async () => {
    const dataDir = tempDir();
    const port = await freePort();
    let server = await startServerProcess({ port, dataDir });
    const url = server.url;

    // Connections each client saw closed (1006 when the server process dies).
    const closes = [0, 0, 0];
    const closeWaiters = new Set<() => void>();
    const onClose = (i: number) => () => {
      closes[i] = (closes[i] ?? 0) + 1;
      for (const wake of [...closeWaiters]) wake();
    };
    const stores = [
      await concordClient(url, DOC, memoryStorage(), { onClose: onClose(0) }),
      await concordClient(url, DOC, memoryStorage(), { onClose: onClose(1) }),
      await concordClient(url, DOC, fileStorage(tempDir()), { onClose: onClose(2) }),
    ];
    await Promise.all(stores.map((s) => within("the first sync", s.whenSynced())));

    let totalAcks = 0;
    const ackWaiters = new Set<() => void>();
    const onAck = (): void => {
      totalAcks++;
      for (const wake of [...ackWaiters]) wake();
    };
    const acksReach = (n: number, count: () => number): Promise<true> =>
      waitFor(
        () => `${n} server acks (have ${count()})`,
        () => count() >= n,
        (wake) => {
          ackWaiters.add(wake);
          return () => ackWaiters.delete(wake);
        },
      );
    const writers = stores.map((store, i) => startWriting(`w${i}`, store, onAck));

    for (let crash = 1; crash <= CRASHES; crash++) {
      // Mid-stream: every client has writes in flight when the server dies.
      await acksReach(crash * ACKS_BEFORE_KILL, () => totalAcks);
      const closesBefore = [...closes];
      expect(await server.kill("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
      const ackedBeforeKill = writers.flatMap((w) => [...w.acked.entries()]);
      // What the dead server left on disk, before any client can hand its writes over again.
      const onDisk = new Map(await dumpEntries(dataDir, DOC));
      const lost = ackedBeforeKill.filter(([key, value]) => JSON.stringify(onDisk.get(key)) !== JSON.stringify(value)).map(([key]) => key);
      expect(lost, `writes the server acknowledged, missing from its folder after SIGKILL ${crash}`).toEqual([]);

      // The clients notice on their own and keep writing while the server is down.
      await waitFor(
        () => `every client to see its connection close (closes: ${closes.join(", ")})`,
        () => closes.every((n, i) => n > closesBefore[i]!),
        (wake) => {
          closeWaiters.add(wake);
          return () => closeWaiters.delete(wake);
        },
      );
      for (const w of writers) {
        expect(w.store.status().server?.connected).toBe(false);
        w.writeOne();
      }
      server = await startServerProcess({ port, dataDir });
      expect(server.url).toBe(url);

      // Reconnected by themselves: each client gets fresh acks from the new server process.
      const ackedAtRestart = writers.map((w) => w.acked.size);
      await Promise.all(writers.map((w, i) => acksReach(ackedAtRestart[i]! + ACKS_AFTER_RESTART, () => w.acked.size)));
    }
    await Promise.all(writers.map((w) => w.stop()));
    expect(writers.flatMap((w) => w.failures)).toEqual([]);
    await Promise.all(stores.map((s) => within("every write to reach the server", s.whenSynced())));
    // Every write made, acknowledged before the crash or after, is acknowledged now.
    for (const w of writers) expect(w.acked.size).toBe(w.written.size);

    const expected = new Map<string, unknown>(writers.flatMap((w) => [...w.written.entries()]));
    const expectedEntries = [...expected.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

    // A fresh client sees every write on the server.
    const fresh = await concordClient(url, DOC, memoryStorage());
    await within("the fresh client's sync", fresh.whenSynced());
    await storeState(fresh, () => `the fresh client to hold ${expected.size} entries (has ${fresh.entriesLocal().length})`, () => fresh.entriesLocal().length >= expected.size);
    expect(fresh.entriesLocal()).toEqual(expectedEntries);

    // All clients converge on the same entries.
    for (const [i, store] of stores.entries()) {
      await storeState(store, () => `client ${i} to hold ${expected.size} entries (has ${store.entriesLocal().length})`, () => store.entriesLocal().length >= expected.size);
      expect(store.entriesLocal(), `client ${i}`).toEqual(expectedEntries);
      expect(store.status().server).toMatchObject({ connected: true, protocol: "concord", pendingWrites: 0 });
    }

    // And it is on disk: stop the server gracefully and dump its folder.
    for (const store of [...stores, fresh]) await store.close();
    expect(await server.kill("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(await dumpEntries(dataDir, DOC)).toEqual(expectedEntries);
  });
});
