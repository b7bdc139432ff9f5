/**
 * The primary-mode client follows a promotion (src/client/node-group.ts, src/client/writes.ts,
 * src/primary/client-policy.ts) against real node servers in process on loopback: a write refused
 * by the old primary is sent once to the new one, which the client found by asking every node's
 * status; the session's positions and the subscriptions carry across; a write whose fate is
 * unknown (its primary fenced, or gone, while it waited) is never sent again. Plus the pure choice
 * of the primary, with the client-side fence. Every wait is on an event, bounded: no sleeps.
 */
import { afterEach, describe, expect, it } from "vitest";
import { chooseWriter } from "../../src/client/node-group.js";
import type { NodeReport } from "../../src/client/policy.js";
import { primaryPolicy, reportOf } from "../../src/primary/client-policy.js";
import type { PrimaryStore } from "../../src/primary/primary-client.js";
import { runCleanups, within } from "../reliability/harness.js";
import { cuttableSockets, docEntries, FAST, inDoc, open, rejection, scriptedNode, start, SubscriberView, type CuttableSockets, type Started } from "./client-nodes.js";

afterEach(runCleanups);

/** p1 leads; r2 and r1 follow it; r1 knows r2, so that once promoted it tells both. */
async function group(primaryOptions: { heartbeatMs: number; maxLagMs: number } = FAST.primaryOptions) {
  const p1 = await start("p1", "primary", { primaryOptions });
  const r2 = await start("r2", { replicaOf: { id: "p1", url: p1.url } });
  const r1 = await start("r1", { replicaOf: { id: "p1", url: p1.url } }, { peers: new Map([["r2", r2.url]]) });
  return { p1, r1, r2 };
}

const at = (epoch: number, lsn: number) => ({ epoch, lsn }) as never;

describe("primary-mode client: following a promotion", { timeout: 30_000 }, () => {
  it("sends a write refused by the old primary (ReadOnlyReplica) once to the new one; status, session and subscriptions follow", async () => {
    const { p1, r1, r2 } = await group();
    const store = await open({ nodes: { primary: p1.url, replicas: [r1.url, r2.url] } });
    const view = new SubscriberView();
    store.subscribe({ prefix: "" }, view.listener);
    const x = await store.set("x", 1, { durability: { replicas: 2 } });
    expect(store.status().primary).toStrictEqual({ url: p1.url, epoch: 1 });

    expect(await r1.server.engine.node.promote()).toStrictEqual({ epoch: 2, lsn: x.position.lsn });
    // r1 writes z in epoch 2; once p1 holds it, p1 follows r1 and refuses writes as a replica.
    const z = await r1.server.engine.node.write(inDoc({ kind: "set", key: "z", value: 2 }));
    await within("p1 to follow r1", p1.server.engine.node.waitFor(at(z.epoch, z.lsn), 10_000));
    expect(p1.server.engine.node.role).toBe("replica");

    const y = await store.set("y", 3);
    expect(y.position).toStrictEqual({ epoch: 2, lsn: z.lsn + 1 }); // at r1, and only once
    expect(r1.server.engine.node.readInfo().lsn).toBe(z.lsn + 1);
    expect(store.status()).toMatchObject({
      primary: { url: r1.url, epoch: 2 },
      nodes: [
        { url: p1.url, role: "replica" },
        { url: r1.url, role: "primary" },
        { url: r2.url, role: "replica" },
      ],
      lastWrite: y.position,
    });

    // The session carries over: reads go to the new primary and include y and what came before.
    expect(await store.get("x")).toBe(1);
    expect(store.readInfo()).toMatchObject({ node: r1.url, role: "primary", position: y.position });

    // The subscription moved to r1: x, z and y, each heard once, in order.
    await view.until("y to be heard", () => view.map.has("y"));
    expect(view.events.flatMap((e) => e.changes)).toStrictEqual([
      { key: "x", value: 1 },
      { key: "z", value: 2 },
      { key: "y", value: 3 },
    ]);
    // Another client, reading from the replicas: its write is refused by p1 and goes to r1; its
    // next read, served by p1 or r2, carries that write's position for the node to wait for.
    const reader = await open({ nodes: { primary: p1.url, replicas: [r1.url, r2.url] }, read: "replica" });
    const asked: unknown[] = [];
    for (const { server } of [p1, r2]) {
      const holds = server.engine.node.holds.bind(server.engine.node);
      server.engine.node.holds = (pos) => {
        asked.push({ ...pos });
        return holds(pos);
      };
    }
    const w = await reader.set("w", 4);
    expect(w.position).toStrictEqual({ epoch: 2, lsn: y.position.lsn + 1 });
    expect(await reader.get("w")).toBe(4);
    expect(reader.readInfo()?.node).not.toBe(r1.url);
    expect(asked).toContainEqual(w.position);

    // Served by r1 now: the old primary can go.
    await p1.server.close();
    const later = await store.delete("x");
    await view.until("the delete to be heard", () => !view.map.has("x"));
    expect(later.position).toStrictEqual({ epoch: 2, lsn: w.position.lsn + 1 });
    expect(view.noOps).toStrictEqual([]);
    expect(view.entries()).toStrictEqual(docEntries(r1.server.engine.node));
  });

  it("a write in flight when its primary is fenced fails as Fenced with an unknown outcome and is not sent again (the new primary holds it)", async () => {
    const { p1, r1, store, inFlight, b } = await writeHeldForR2();
    expect(await r1.server.engine.node.promote()).toStrictEqual({ epoch: 2, lsn: b.lsn });
    const e = await inFlight;
    expect(e).toMatchObject({ code: "Fenced", details: { outcome: "unknown", node: p1.url } });
    expect(String((e as Error).message)).toMatch(/may or may not have been applied/);
    await expectNotSentAgain(store, r1, b);
  });

  it("a write whose answer is lost is of unknown outcome and not sent again, though the new primary is found at once", async () => {
    const sockets = cuttableSockets();
    const { p1, r1, store, inFlight, b } = await writeHeldForR2(sockets);
    // p1's answer (Fenced, once r1 is promoted) is lost on the way; then the link drops.
    sockets.mute(p1.url);
    await r1.server.engine.node.promote();
    await p1.event("node.fenced");
    sockets.cut(p1.url);
    const e = await inFlight;
    expect(e).toMatchObject({ code: "Unavailable", details: { outcome: "unknown", node: p1.url } });
    expect(store.status().primary).toStrictEqual({ url: r1.url, epoch: 2 }); // found when the link dropped
    await expectNotSentAgain(store, r1, b);
  });

  it("a write whose primary goes down while it waits is of unknown outcome and not sent again; the next write finds the new primary", async () => {
    const { p1, r1, store, inFlight, b } = await writeHeldForR2();
    await p1.server.close();
    const e = await inFlight;
    expect(e).toMatchObject({ code: "Unavailable", details: { outcome: "unknown", node: p1.url } });
    expect(store.status().primary.url).toBe(p1.url); // no node leads a newer epoch yet

    await r1.server.engine.node.promote();
    // p1's link is down: the next write is not sent there, so it is safe to send to the primary found.
    const c = await expectNotSentAgain(store, r1, b);
    // Reads on the primary follow it too, waiting for this session's write.
    expect(await store.get("c")).toBe(3);
    expect(store.readInfo()).toMatchObject({ node: r1.url, position: c.position });
  });
});

/**
 * A group whose primary holds a write `b` for 2 replicas, in flight: r1 has it, r2 stopped (and
 * stays fresh at p1 long after: the write is taken and waits for it).
 */
async function writeHeldForR2(sockets?: CuttableSockets) {
  const { p1, r1, r2 } = await group({ heartbeatMs: 20, maxLagMs: 60_000 });
  const store = await open({ nodes: { primary: p1.url, replicas: [r1.url, r2.url] }, ...(sockets === undefined ? {} : { WebSocket: sockets.WebSocket }) });
  const a = await store.set("a", 1, { durability: { replicas: 2 } });
  await r2.server.close();
  const inFlight = rejection(store.set("b", 2, { durability: { replicas: 2 } }));
  const b = { epoch: 1, lsn: a.position.lsn + 1 };
  await within("r1 to hold b", r1.server.engine.node.waitFor(at(b.epoch, b.lsn), 10_000));
  return { p1, r1, store, inFlight, b };
}

/** Writes c through `store`: it lands at the new primary r1 right after b (b was not applied twice). */
async function expectNotSentAgain(store: PrimaryStore, r1: Started, b: { epoch: number; lsn: number }) {
  const c = await store.set("c", 3);
  expect(c.position).toStrictEqual({ epoch: 2, lsn: b.lsn + 1 });
  expect(store.status().primary).toStrictEqual({ url: r1.url, epoch: 2 });
  expect(docEntries(r1.server.engine.node)).toStrictEqual([
    ["a", 1],
    ["b", 2],
    ["c", 3],
  ]);
  return c;
}

describe("primary-mode client: the client-side fence", { timeout: 30_000 }, () => {
  it("sends no write to a primary of an older epoch than one it has read, even when no newer primary answers", async () => {
    const status = (id: string, role: string, epoch: number) => ({ id, role, epoch, fenced: false, lsn: 7 });
    const writesAtOld: unknown[] = [];
    // `old` still thinks it leads epoch 1 (it has not heard of the promotion); `follower` follows epoch 2.
    const old = await scriptedNode((req, send) => {
      if (req.type === "status") send({ type: "status", id: req.id, status: status("p1", "primary", 1) });
      if (req.type === "write") writesAtOld.push(req);
    });
    const follower = await scriptedNode((req, send) => {
      if (req.type === "status") send({ type: "status", id: req.id, status: status("r2", "replica", 2) });
      if (req.type === "get") send({ type: "value", id: req.id, value: 1, info: { role: "replica", position: { epoch: 2, lsn: 7 }, lagLsn: 0, silentMs: 5 } });
    });
    const store = await open({ nodes: { primary: old.url, replicas: [follower.url] }, read: "replica" });
    expect(await store.get("a")).toBe(1);
    const e = await rejection(store.set("a", 2));
    expect(e).toMatchObject({ code: "Unavailable", details: { outcome: "not-applied" } });
    expect(String((e as Error).message)).toMatch(/no node that answered leads epoch 2.*p1 leads the older epoch 1/);
    expect(writesAtOld).toStrictEqual([]);
    expect(store.status().primary).toStrictEqual({ url: old.url, epoch: undefined });
  });
});

describe("chooseWriter with the primary policy (pure)", () => {
  const report = (id: string, role: "primary" | "replica", epoch: number, fenced = false): NodeReport =>
    reportOf(`ws://${id}`, { id, role, epoch, fenced })!;
  const choosePrimary = (reports: NodeReport[], floor: number) => chooseWriter(reports, floor, primaryPolicy.words);

  it("picks the one unfenced primary of the newest epoch", () => {
    const choice = choosePrimary([report("p1", "primary", 1, true), report("r1", "primary", 2), report("r2", "replica", 2)], 1);
    expect(choice).toMatchObject({ writer: { id: "r1" }, term: 2 });
  });

  it("never picks a primary of an older epoch than one seen, even when it is the only primary answering (the client-side fence)", () => {
    // r1 leads epoch 2 but did not answer; r2 follows it; p1 has not heard yet.
    const heard = choosePrimary([report("p1", "primary", 1), report("r2", "replica", 2)], 1);
    expect(heard.writer).toBeUndefined();
    expect(heard.term).toBe(2);
    expect(heard.why).toMatch(/no node that answered leads epoch 2.*p1 leads the older epoch 1, so it is not chosen/);
    // The floor alone fences too: epoch 2 was seen earlier (an acknowledgement, a read).
    expect(choosePrimary([report("p1", "primary", 1)], 2).writer).toBeUndefined();
  });

  it("picks none when two nodes claim the same epoch, and none from a fenced primary", () => {
    const split = choosePrimary([report("r1", "primary", 2), report("r2", "primary", 2)], 1);
    expect(split.writer).toBeUndefined();
    expect(split.why).toMatch(/r1 \(ws:\/\/r1\) and r2 \(ws:\/\/r2\) all claim to lead epoch 2/);
    expect(choosePrimary([report("p1", "primary", 1, true)], 0).writer).toBeUndefined();
  });

  it("reads a node's status answer, and ignores one that is not a primary-mode node's", () => {
    expect(reportOf("ws://a", { id: "a", role: "replica", epoch: 3, fenced: false, lsn: 9 })).toStrictEqual({ url: "ws://a", id: "a", term: 3, writer: false });
    expect(reportOf("ws://a", { id: "a", role: "primary", epoch: 3, fenced: true })).toStrictEqual({ url: "ws://a", id: "a", term: 3, writer: false });
    expect(reportOf("ws://a", { id: "a", role: "primary", epoch: 3, fenced: false })).toStrictEqual({ url: "ws://a", id: "a", term: 3, writer: true });
    expect(reportOf("ws://a", { id: "a", role: "leader", epoch: 3, fenced: false })).toBeUndefined();
    expect(reportOf("ws://a", { id: "a", role: "primary", epoch: "3", fenced: false })).toBeUndefined();
    expect(reportOf("ws://a", [1])).toBeUndefined();
    expect(reportOf("ws://a", null)).toBeUndefined();
  });
});
