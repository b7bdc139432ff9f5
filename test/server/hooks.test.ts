/**
 * The server's hooks for an app (`onChange`, `onLoad`, `onUnload`): what they hear and when, and
 * that a hook that throws, rejects or never settles is logged and never loses or holds up data.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import * as Y from "yjs";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { DocumentChange } from "../../src/server/server.js";
import { connect, hasValue, onCleanup, runCleanups, start, synced, tempDir } from "./fixtures.js";

afterEach(runCleanups);

/** A promise with its resolver, for a hook to settle. */
function signal<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const keysOf = (update: Uint8Array): string[] => {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, update);
  return [...doc.getMap("concord").keys()];
};

describe("server hooks", () => {
  it("onLoad for a document's first connection, onChange for each client change once durable, onUnload once it is flushed", async () => {
    const events: string[] = [];
    const changes: DocumentChange[] = [];
    const unloaded = signal<void>();
    const { server } = await start({
      idleUnloadMs: 50,
      onLoad: (doc) => void events.push(`load ${doc}`),
      onChange: (change) => {
        changes.push(change);
        events.push(`change ${change.doc} ${keysOf(change.update).join(",")}`);
      },
      onUnload: (doc) => {
        events.push(`unload ${doc}`);
        unloaded.resolve();
      },
    });
    const a = connect(server, "todos");
    const b = connect(server, "todos");
    await Promise.all([synced(a), synced(b)]);
    a.map.set("todo:1", "milk");
    await hasValue(b, "todo:1", "milk");
    a.provider.destroy();
    b.provider.destroy();
    await unloaded.promise;
    expect(events).toEqual(["load todos", "change todos todo:1", "unload todos"]);
    expect(changes[0]).toMatchObject({ doc: "todos", connection: expect.stringMatching(/^c\d+$/) });
  });

  it("a hook that throws, rejects or never settles is logged; updates are still stored, forwarded and acknowledged", async () => {
    const dataDir = tempDir();
    const { server, logged } = await start({
      dataDir,
      onLoad: () => {
        throw new Error("load hook broke");
      },
      onChange: (change) => (keysOf(change.update).some((k) => k.startsWith("slow")) ? new Promise(() => undefined) : Promise.reject(new Error("webhook down"))),
    });
    const a = connect(server, "doc");
    const b = connect(server, "doc");
    await Promise.all([synced(a), synced(b)]);
    a.map.set("slow", 1);
    a.map.set("fast", 2);
    await hasValue(b, "slow", 1);
    await hasValue(b, "fast", 2);
    expect(await logged((e) => e.event === "hook.failed" && e["hook"] === "onLoad")).toMatchObject({ doc: "doc" });
    expect(await logged((e) => e.event === "hook.failed" && e["hook"] === "onChange")).toMatchObject({ doc: "doc" });
    // A write acknowledged at level "server" while the hook for it never settles.
    const store = await openStore({ mode: "eventual", doc: "doc", persistence: memoryStorage(), sync: { url: server.url, WebSocket: WebSocket as never } });
    onCleanup(() => store.close());
    expect(await store.set("slow too", 3, { ack: "server" })).toEqual({ level: "server" });
    await server.close();
    // Stored: a server on the same folder serves both.
    const again = await start({ dataDir });
    const c = connect(again.server, "doc");
    await hasValue(c, "slow", 1);
    await hasValue(c, "fast", 2);
    await hasValue(c, "slow too", 3);
  });
});
