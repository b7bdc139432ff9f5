/**
 * The clients of `bench/sync.ts`: a writer A and an observer B on one room of a sync server, both
 * in this process, either stock y-websocket clients (`WebsocketProvider`, BroadcastChannel off so
 * that everything goes through the server) or Concord stores (`openStore` with memory storage and
 * `sync: { url }`). Either way B's side is the `Y.Map` named "concord" of its `Y.Doc`, observed
 * directly, so both kinds are timed at the same point: when B's document holds the write.
 */
import WebSocket from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import type { EventualStore } from "../src/eventual/eventual-store.js";
import type { Json } from "../src/json.js";
import { openStore } from "../src/open-store.js";
import { memoryStorage } from "../src/storage/memory-storage.js";
import { withTimeout } from "./harness.js";

export type ClientKind = "stock" | "concord";

/** Writer A and observer B on one room. */
export interface PeerPair {
  /** A writes `key` in a transaction of its own. */
  set(key: string, value: Json): void;
  /** B's keyspace map (`ydoc.getMap("concord")`): observe it to see A's writes arrive. */
  readonly seen: Y.Map<unknown>;
  /** Disconnects both; rejects if a Concord write of A failed. */
  close(): Promise<void>;
}

/** Both clients connected and synced with the server, B listening, before it resolves. */
export async function openPair(kind: ClientKind, url: string, room: string, timeoutMs = 15_000): Promise<PeerPair> {
  return kind === "stock" ? stockPair(url, room, timeoutMs) : concordPair(url, room, timeoutMs);
}

/** A stock y-websocket client: `WebsocketProvider` over `ws`, BroadcastChannel off. */
export function stockClient(url: string, room: string): { doc: Y.Doc; provider: WebsocketProvider } {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket as never, disableBc: true });
  return { doc, provider };
}

/** Resolves once the provider got the server's state (sync step 2). */
export function providerSynced(provider: WebsocketProvider, what: string, timeoutMs: number): Promise<void> {
  if (provider.synced) return Promise.resolve();
  return withTimeout(
    new Promise<void>((resolve) => {
      const onSync = (synced: boolean): void => {
        if (!synced) return;
        provider.off("sync", onSync);
        resolve();
      };
      provider.on("sync", onSync);
    }),
    timeoutMs,
    `${what}: no sync with ${provider.url}`,
  );
}

async function stockPair(url: string, room: string, timeoutMs: number): Promise<PeerPair> {
  const a = stockClient(url, room);
  const b = stockClient(url, room);
  const close = async (): Promise<void> => {
    a.provider.destroy();
    b.provider.destroy();
    a.doc.destroy();
    b.doc.destroy();
  };
  try {
    await Promise.all([providerSynced(a.provider, "client A", timeoutMs), providerSynced(b.provider, "client B", timeoutMs)]);
  } catch (error) {
    await close();
    throw error;
  }
  const map = a.doc.getMap("concord");
  return { set: (key, value) => map.set(key, value), seen: b.doc.getMap("concord"), close };
}

async function concordPair(url: string, room: string, timeoutMs: number): Promise<PeerPair> {
  const failures: unknown[] = [];
  const onError = (error: unknown): void => {
    failures.push(error);
  };
  const open = (): Promise<EventualStore> =>
    openStore({ mode: "eventual", doc: room, persistence: memoryStorage(), sync: { url, WebSocket: WebSocket as never }, onError });
  const stores = await Promise.all([open(), open()]);
  const [a, b] = stores as [EventualStore, EventualStore];
  const close = async (): Promise<void> => {
    await Promise.all([a.close(), b.close()]);
    if (failures.length > 0) throw new Error(`Concord client failed: ${String(failures[0])}`, { cause: failures[0] });
  };
  try {
    await withTimeout(Promise.all([a.whenSynced(), b.whenSynced()]), timeoutMs, `Concord clients: no sync with ${url}/${room}`);
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  return {
    set: (key, value) => {
      a.set(key, value).catch(onError);
    },
    seen: b.ydoc.getMap("concord"),
    close,
  };
}

/**
 * Writes `keys` keys into `room` through a stock client, one transaction each, then confirms
 * through a second client that the server holds all of them (it gets the server's state, and what
 * the server forwards after), and disconnects both. (`concord serve` forwards before its fsync:
 * held, not necessarily durable yet.)
 */
export async function loadRoom(url: string, room: string, keys: number, value: (i: number) => Json, timeoutMs = 60_000): Promise<void> {
  const writer = stockClient(url, room);
  let checker: ReturnType<typeof stockClient> | undefined;
  try {
    await providerSynced(writer.provider, `writer of ${room}`, timeoutMs);
    const map = writer.doc.getMap("concord");
    for (let i = 0; i < keys; i++) map.set(`k${i}`, value(i));
    checker = stockClient(url, room);
    const seen = checker.doc.getMap("concord");
    const last = `k${keys - 1}`;
    // Updates of one Yjs client integrate in order: once the last key is there, all of them are.
    await withTimeout(
      new Promise<void>((resolve) => {
        if (seen.has(last)) return resolve();
        const onChange = (): void => {
          if (!seen.has(last)) return;
          seen.unobserve(onChange);
          resolve();
        };
        seen.observe(onChange);
      }),
      timeoutMs,
      `${room}: the server did not hand back ${last}`,
    );
    if (seen.size !== keys) throw new Error(`${room}: the checker sees ${seen.size} keys, expected ${keys}`);
  } finally {
    for (const c of [writer, checker]) {
      c?.provider.destroy();
      c?.doc.destroy();
    }
  }
}
