/**
 * The embedded client of `primary` mode (src/primary/primary-client.ts) against real node servers
 * in process, on real sockets on loopback and real files: writes and reads on the primary,
 * read-your-writes and monotonic reads on replicas that provably lag (their primary is down while
 * the read waits), Stale, subscriptions, Timeout/Unavailable, refusals with a redirect, and option
 * validation. Every wait is on an event (an answer, a log entry, a spied call), bounded by a
 * timeout: no sleeps.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { openStore } from "../../src/open-store.js";
import type { PrimaryOptions } from "../../src/primary/primary-client.js";
import type { ChangeEvent } from "../../src/store.js";
import { freePort, onCleanup, runCleanups, within } from "../reliability/harness.js";
import { open, rejection, start, type Started } from "./client-nodes.js";

afterEach(runCleanups);

/** Resolves with the position of the first `waitFor` the node is asked for (a read waiting for `after`). */
function spyWaitFor(s: Started): Promise<{ epoch: number; lsn: number }> {
  const node = s.server.engine.node;
  const original = node.waitFor.bind(node);
  return within(
    `${s.url} to wait for a position`,
    new Promise((resolve) => {
      node.waitFor = (pos, ms) => {
        resolve(pos);
        return original(pos, ms);
      };
    }),
  );
}

describe("primary-mode client", { timeout: 30_000 }, () => {
  it("writes and reads on the primary; a replica-backed write acks with the replicas; reads report where they were served", async () => {
    const p = await start("p1", "primary");
    const r = await start("r1", { replicaOf: { id: "p1", url: p.url } });
    const store = await open({ nodes: { primary: p.url } });
    const a = await store.set("todo:1", { title: "milk" });
    expect(a).toStrictEqual({ level: "local", position: { epoch: 1, lsn: 1 }, replicas: expect.any(Array) });
    const b = await store.set("todo:2", "bread", { durability: { replicas: 1 } });
    expect(b).toMatchObject({ level: "replicas", position: { epoch: 1, lsn: 2 }, replicas: ["r1"] });
    await store.set("other", 1);
    expect(await store.get("todo:1")).toStrictEqual({ title: "milk" });
    expect(await store.entries({ prefix: "todo:" })).toStrictEqual([
      ["todo:1", { title: "milk" }],
      ["todo:2", "bread"],
    ]);
    expect(store.readInfo()).toMatchObject({ node: p.url, role: "primary", position: { epoch: 1, lsn: 3 }, lagLsn: 0 });
    const d = await store.delete("todo:1");
    expect(d.position.lsn).toBe(4);
    expect(await store.get("todo:1")).toBeUndefined();
    const t = await store.transact((tx) => {
      tx.set("x", 1);
      tx.set("y", tx.get("x"));
    });
    expect(t.position.lsn).toBe(5);
    expect(await store.entries({ prefix: "x" })).toStrictEqual([["x", 1]]);
    expect(await store.get("y")).toBe(1);
    expect(store.status()).toMatchObject({ mode: "primary", pendingWrites: 0, lastWrite: { epoch: 1, lsn: 5 }, peers: [p.url] });
    await expect(store.set("k", () => 1)).rejects.toMatchObject({ code: "InvalidValue" });
    void r;
  });

  it("refuses a write too large for one request with TooLarge before sending it (not as a dropped connection), and carries on", async () => {
    const p = await start("p1", "primary");
    const store = await open({ nodes: { primary: p.url } });
    const big = "x".repeat(20 * 1024 * 1024);
    const refused = await rejection(store.set("big", big));
    expect(refused).toMatchObject({ code: "TooLarge", details: { outcome: "not-applied", limit: 16 * 1024 * 1024 } });
    expect((refused as Error).message).toMatch(/nothing was sent \(the write was not applied\)/);
    expect(await store.set("small", 1)).toMatchObject({ level: "local", position: { lsn: 1 } });
    expect(await store.get("big")).toBeUndefined();
  });

  it("refuses a write at a node that is not the primary with ReadOnlyReplica and the primary's id as redirect; with no other node known, nothing is retried", async () => {
    const p = await start("p1", "primary");
    const r = await start("r1", { replicaOf: { id: "p1", url: p.url } });
    const wrong = await open({ nodes: { primary: r.url } });
    const e = await rejection(wrong.set("a", 1));
    expect(e).toMatchObject({ code: "ReadOnlyReplica", details: { redirect: "p1", outcome: "refused" } });
    expect(String((e as Error).message)).toMatch(/writes go to p1/);
  });

  it("read-your-writes: a replica read waits until the replica holds this client's write, though the replica lags (its primary is down)", async () => {
    const p = await start("p1", "primary");
    const replicaPort = await freePort();
    const replicaUrl = `ws://127.0.0.1:${replicaPort}`;
    const store = await open({ nodes: { primary: p.url, replicas: [replicaUrl] }, read: "replica" });
    const ack = await store.set("a", "mine");

    // The primary goes down; a fresh replica of it starts: it holds nothing and cannot catch up.
    await p.server.close();
    const r = await start("r1", { replicaOf: { id: "p1", url: p.url } }, { port: replicaPort });
    await store.whenConnected(replicaUrl);
    const waiting = spyWaitFor(r);
    const read = store.get("a");
    expect(await waiting).toStrictEqual(ack.position);
    expect(r.server.engine.node.readInfo().lsn).toBe(0);

    // The primary comes back on its port: the replica catches up and only then answers.
    await start("p1", "primary", { dataDir: p.dataDir, port: Number(new URL(p.url).port) });
    expect(await within("the replica read", read)).toBe("mine");
    expect(store.readInfo()).toMatchObject({ node: replicaUrl, role: "replica", position: ack.position });
  });

  it("monotonic reads: after reading a position from one replica, a read on a replica behind it never returns older data (Timeout instead)", async () => {
    const p = await start("p1", "primary");
    const r1 = await start("r1", { replicaOf: { id: "p1", url: p.url } });
    const writer = await open({ nodes: { primary: p.url } });
    const ack = await writer.set("a", "new", { durability: { replicas: 1 } });
    await p.server.close();
    // r2 starts after the primary is gone: it never holds `a`.
    const r2 = await start("r2", { replicaOf: { id: "p1", url: p.url } });

    const unsafe = await open({ nodes: { primary: p.url, replicas: [r2.url] }, read: "replica", session: false });
    expect(await unsafe.get("a")).toBeUndefined(); // r2 really is behind

    const reader = await open({ nodes: { primary: p.url, replicas: [r1.url, r2.url] }, read: "replica", timeoutMs: 300 });
    await reader.whenConnected(r1.url);
    await reader.whenConnected(r2.url);
    expect(await reader.get("a")).toBe("new");
    expect(reader.readInfo()).toMatchObject({ node: r1.url, position: ack.position });
    const e = await rejection(reader.get("a"));
    expect(e).toMatchObject({ code: "Timeout" });
    expect(reader.status().lastRead).toStrictEqual(ack.position);
  });

  it("answers Stale when a replica lost its primary for longer than maxStalenessMs", async () => {
    const p = await start("p1", "primary");
    const r = await start("r1", { replicaOf: { id: "p1", url: p.url } });
    const writer = await open({ nodes: { primary: p.url } });
    await writer.set("a", 1, { durability: { replicas: 1 } });
    const tolerant = await open({ nodes: { primary: p.url, replicas: [r.url] }, read: "replica", session: false });
    const strict = await open({ nodes: { primary: p.url, replicas: [r.url] }, read: "replica", maxStalenessMs: 0, session: false });
    await p.server.close();
    await r.event("peer.link_closed");
    const e = await rejection(strict.get("a"));
    expect(e).toMatchObject({ code: "Stale" });
    expect(String((e as Error).message)).toMatch(/allows at most 0 ms/);
    expect(await tolerant.get("a")).toBe(1);
    expect(tolerant.readInfo()).toMatchObject({ role: "replica", node: r.url });
    expect(tolerant.readInfo()!.silentMs).toBeGreaterThan(0);
  });

  it("subscriptions hear the changes under their prefix until unsubscribed, from the primary or a replica", async () => {
    const p = await start("p1", "primary");
    const r = await start("r1", { replicaOf: { id: "p1", url: p.url } });
    const store = await open({ nodes: { primary: p.url } });
    const viaReplica = await open({ nodes: { primary: p.url, replicas: [r.url] }, read: "replica" });
    const heard: ChangeEvent[] = [];
    const fromReplica: ChangeEvent[] = [];
    let wake: (() => void) | undefined;
    const next = (): Promise<void> => within("a change event", new Promise<void>((resolve) => (wake = resolve)));
    const off = store.subscribe({ prefix: "todo:" }, (e) => {
      heard.push(e);
      wake?.();
    });
    let wakeReplica: (() => void) | undefined;
    viaReplica.subscribe({ prefix: "todo:" }, (e) => {
      fromReplica.push(e);
      wakeReplica?.();
    });
    await viaReplica.whenConnected(r.url);

    let event = next();
    const replicaEvent = within("a change from the replica", new Promise<void>((resolve) => (wakeReplica = resolve)));
    await store.set("other", 0);
    await store.set("todo:1", "milk", { durability: { replicas: 1 } });
    await event;
    expect(heard).toStrictEqual([{ changes: [{ key: "todo:1", value: "milk" }], origin: "remote" }]);
    await replicaEvent;
    expect(fromReplica[0]).toStrictEqual({ changes: [{ key: "todo:1", value: "milk" }], origin: "remote" });

    event = next();
    await store.delete("todo:1");
    await event;
    expect(heard[1]).toStrictEqual({ changes: [{ key: "todo:1", value: undefined }], origin: "remote" });

    off();
    // Ordered on the same connection: the unsubscribe reaches the node before these writes.
    await store.set("todo:2", "bread");
    expect(await store.get("todo:2")).toBe("bread");
    expect(heard).toHaveLength(2);
  });

  it("rejects with Timeout when the node does not answer, saying a write's fate is unknown", async () => {
    const silent = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve) => silent.once("listening", () => resolve()));
    onCleanup(() => new Promise<void>((resolve) => {
      for (const ws of silent.clients) ws.terminate();
      silent.close(() => resolve());
    }));
    const url = `ws://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const store = await open({ nodes: { primary: url }, timeoutMs: 200 });
    const e = await rejection(store.set("a", 1));
    expect(e).toMatchObject({ code: "Timeout", details: { outcome: "unknown" } });
    expect(String((e as Error).message)).toMatch(/may or may not have been applied/);
    expect(await rejection(store.get("a"))).toMatchObject({ code: "Timeout" });
  });

  it("rejects with Unavailable when the node is down, and reconnects in the background once it is back", async () => {
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}`;
    const store = await open({ nodes: { primary: url } });
    const e = await rejection(store.set("a", 1));
    expect(e).toMatchObject({ code: "Unavailable", details: { outcome: "not-applied" } });
    expect(String((e as Error).message)).toMatch(/was not sent, so it was not applied/);
    expect(await rejection(store.get("a"))).toMatchObject({ code: "Unavailable" });

    const p = await start("p1", "primary", { port });
    await store.whenConnected();
    expect((await store.set("a", 1)).position.lsn).toBe(1);

    await p.server.close();
    const down = await rejection(store.get("a"));
    expect(down).toMatchObject({ code: "Unavailable" });
    await start("p1", "primary", { port, dataDir: p.dataDir });
    await store.whenConnected();
    expect(await store.get("a")).toBe(1);
  });

  it("resubscribes after a reconnect; close settles the writes made before it, and later calls reject with Closed", async () => {
    const p = await start("p1", "primary");
    const port = Number(new URL(p.url).port);
    const store = await open({ nodes: { primary: p.url } });
    const heard: ChangeEvent[] = [];
    let wake: (() => void) | undefined;
    store.subscribe({ prefix: "" }, (e) => {
      heard.push(e);
      wake?.();
    });
    const first = within("a change before the restart", new Promise<void>((resolve) => (wake = resolve)));
    await store.set("a", 0);
    await first;
    await p.server.close();
    await start("p1", "primary", { port, dataDir: p.dataDir });
    await store.whenConnected();
    const event = within("a change after the reconnect", new Promise<void>((resolve) => (wake = resolve)));
    await store.set("a", 1);
    await event;
    expect(heard).toStrictEqual([
      { changes: [{ key: "a", value: 0 }], origin: "remote" },
      { changes: [{ key: "a", value: 1 }], origin: "remote" },
    ]);

    const pending = store.set("b", 2);
    const closed = store.close();
    expect(await pending).toMatchObject({ level: "local", position: { lsn: 3 } });
    await closed;
    expect(store.status()).toMatchObject({ closed: true, pendingWrites: 0 });
    await expect(store.set("c", 3)).rejects.toMatchObject({ code: "Closed", details: { outcome: "not-applied" } });
    await expect(store.get("a")).rejects.toMatchObject({ code: "Closed" });
  });

  it("refuses bad options with InvalidArgument naming the option", async () => {
    const refused = async (o: Record<string, unknown>): Promise<unknown> =>
      rejection(openStore({ mode: "primary", doc: "d", nodes: { primary: "ws://127.0.0.1:1" }, ...o } as unknown as PrimaryOptions));
    const invalid = (option: string) => expect.objectContaining({ code: "InvalidArgument", details: { option }, message: expect.stringContaining(option) });
    expect(await refused({ nodes: undefined })).toEqual(invalid("nodes"));
    expect(await refused({ nodes: { primary: "http://127.0.0.1:1" } })).toEqual(invalid("nodes.primary"));
    expect(await refused({ nodes: { primary: "ws://127.0.0.1:1/client" } })).toEqual(invalid("nodes.primary"));
    expect(await refused({ nodes: { primary: "ws://127.0.0.1:1", replicas: ["ws://127.0.0.1:1"] } })).toEqual(invalid("nodes.replicas[0]"));
    expect(await refused({ read: "replica" })).toEqual(invalid("nodes.replicas"));
    expect(await refused({ read: "nearest" })).toEqual(invalid("read"));
    expect(await refused({ session: "yes" })).toEqual(invalid("session"));
    expect(await refused({ maxStalenessMs: -1 })).toEqual(invalid("maxStalenessMs"));
    expect(await refused({ timeoutMs: 0 })).toEqual(invalid("timeoutMs"));
    expect(await refused({ durability: { replicas: 0 } })).toEqual(invalid("durability"));
    expect(await refused({ doc: "" })).toEqual(invalid("doc"));
    const store = await open({ nodes: { primary: "ws://127.0.0.1:1" } });
    await expect(store.set("a", 1, { ack: "committed" })).rejects.toMatchObject({ code: "InvalidArgument", details: { option: "ack" } });
    await expect(store.set("a", 1, { durability: { replicas: -1 } })).rejects.toMatchObject({ code: "InvalidArgument", details: { option: "durability" } });
  });
});
