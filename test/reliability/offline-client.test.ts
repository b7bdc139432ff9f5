/**
 * A client process with file storage works offline across its own restart, and everything
 * converges once the server is back.
 *
 * The client is a process of its own (`fixtures/offline-client.ts`, run with `node --import tsx`),
 * the server `concord serve` on a fixed port. The client syncs a write, the server goes away
 * (SIGTERM), the client edits offline (acknowledged locally), then its PROCESS is killed (SIGKILL:
 * no close, no flush beyond what it acknowledged). It restarts from its file storage while the
 * server is still down: it still has the offline edits and asks `whenSynced()`. The server comes
 * back on the same port and folder; the client reconnects by itself, `whenSynced()` resolves, and
 * another client (and the server's folder) holds the offline edits.
 */
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import {
  concordClient,
  dumpEntries,
  freePort,
  runCleanups,
  spawnChild,
  startServerProcess,
  storeState,
  tempDir,
  type Child,
} from "./harness.js";

afterEach(runCleanups);

const DOC = "offline-doc";
const FIXTURE = fileURLToPath(new URL("./fixtures/offline-client.ts", import.meta.url));

/** A client process, and a way to send it commands and await their answers. */
interface ClientProcess extends Child {
  /** The `{"event":"open",...}` line it printed once its store was open. */
  readonly opened: { entries: Array<[string, unknown]>; server: { connected: boolean; pendingWrites: number } };
  /** Sends a command; resolves with its answer (rejects if the answer is an error). */
  call(command: Record<string, unknown>): Promise<Record<string, unknown>>;
}

let nextId = 0;

async function startClient(storageDir: string, url: string): Promise<ClientProcess> {
  const proc = spawnChild(["--import", "tsx", FIXTURE, storageDir, url, DOC], "the client process");
  const openLine = await proc.line((l) => l.startsWith('{"event":"open"'), 0, "its open line");
  const call = async (command: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const id = ++nextId;
    proc.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    const line = await proc.line((l) => l.startsWith(`{"id":${id},`), 0, `the answer to ${JSON.stringify(command)}`);
    const answer = JSON.parse(line) as Record<string, unknown>;
    if ("error" in answer) throw new Error(`${JSON.stringify(command)} failed in the client process: ${String(answer["error"])}`);
    return answer;
  };
  return { ...proc, opened: JSON.parse(openLine) as ClientProcess["opened"], call };
}

/** Resolves once the client process printed its `count`-th connection close. */
function closes(client: Child, count: number): Promise<string> {
  let seen = 0;
  return client.line((l) => l.startsWith('{"event":"close"') && ++seen >= count, 0, `${count} connection close(s)`);
}

describe("offline client process with file storage", () => {
  it("keeps offline edits across its own crash and restart, and syncs them when the server is back", async () => {
    const dataDir = tempDir();
    const storageDir = tempDir();
    const port = await freePort();
    let server = await startServerProcess({ port, dataDir });
    const url = server.url;

    // Online: a write the server acknowledges.
    const first = await startClient(storageDir, url);
    expect(first.opened.entries).toEqual([]);
    expect(await first.call({ op: "set", key: "online:1", value: { at: "online" }, ack: "server" })).toMatchObject({ ack: { level: "server" } });

    // The server goes away; the client notices by itself and edits offline.
    expect(await server.kill("SIGTERM")).toEqual({ code: 0, signal: null });
    await closes(first, 1);
    const offline: Array<[string, unknown]> = [];
    for (let i = 1; i <= 5; i++) {
      const key = `offline:${i}`;
      const value = { at: "offline", i, text: "é🎉".repeat(i) };
      expect(await first.call({ op: "set", key, value })).toMatchObject({ ack: { level: "local" } });
      offline.push([key, value]);
    }
    expect(await first.call({ op: "delete", key: "offline:3" })).toMatchObject({ ack: { level: "local" } });
    expect(await first.call({ op: "set", key: "online:1", value: { at: "online", edited: "offline" } })).toMatchObject({ ack: { level: "local" } });
    const edited: [string, unknown] = ["online:1", { at: "online", edited: "offline" }];
    const expected = [...offline.filter(([key]) => key !== "offline:3"), edited].sort(([a], [b]) => (a < b ? -1 : 1));
    const before = await first.call({ op: "entries" });
    expect(before["entries"]).toEqual(expected);
    expect(before["server"]).toMatchObject({ connected: false });

    // The client's PROCESS dies without closing its store.
    expect(await first.kill("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });

    // It restarts from its own file storage while the server is still down, and waits for it.
    const second = await startClient(storageDir, url);
    expect(second.opened.entries).toEqual(expected);
    expect(second.opened.server).toMatchObject({ connected: false });
    const synced = second.call({ op: "whenSynced" });
    synced.catch(() => undefined); // awaited below

    // The server comes back on the same address and folder; the client reconnects on its own.
    await closes(second, 1); // it did try, and failed, while the server was down
    server = await startServerProcess({ port, dataDir });
    expect(server.url).toBe(url);
    expect(await synced).toMatchObject({ synced: true, server: { connected: true, protocol: "concord", pendingWrites: 0 } });

    // Another client sees the offline edits, and the restarted client sees that client's write.
    const other = await concordClient(url, DOC, memoryStorage());
    await other.whenSynced();
    await storeState(other, () => `the other client to get the offline edits (has ${JSON.stringify(other.entriesLocal())})`, () =>
      JSON.stringify(other.entriesLocal()) === JSON.stringify(expected),
    );
    await other.set("from:other", "hello", { ack: "server" });
    const converged = [...expected, ["from:other", "hello"] as [string, unknown]].sort(([a], [b]) => (a < b ? -1 : 1));
    await storeState(other, "the other client to hold its own write", () => other.getLocal("from:other") === "hello");
    expect((await second.call({ op: "waitForKey", key: "from:other", value: "hello" }))["entries"]).toEqual(converged);
    await other.close();

    // And the server's folder holds it all.
    await second.kill("SIGKILL");
    expect(await server.kill("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(await dumpEntries(dataDir, DOC)).toEqual(converged);
  });
});
