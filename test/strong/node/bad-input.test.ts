/**
 * Bad input to a strong-mode cluster over real sockets (test/strong/node/cluster.ts): garbage and
 * truncated frames on `/peer` and `/client`, a peer that forges a term far ahead (dropped: it would
 * wedge the cluster at term 2^53) or a little ahead (an election, nothing lost), and a client that
 * replays a write of its session (applied once; an acknowledged one refused as stale). Each time
 * the nodes keep serving and every acknowledged write is still there.
 */
import { WebSocket } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { asPeerId } from "../../../src/ids.js";
import { encodePeerHello } from "../../../src/net/websocket-mesh.js";
import { encodeMessage } from "../../../src/strong/raft/codec.js";
import type { Message } from "../../../src/strong/raft/messages.js";
import { asIndex, asNodeId, asTerm } from "../../../src/strong/raft/types.js";
import { onCleanup, runCleanups, within } from "../../reliability/harness.js";
import { connectClient, expectAnswer } from "../../service/node-client.js";
import { TestCluster } from "./cluster.js";

afterEach(runCleanups);

/** A socket to `<url>/peer` that said the mesh hello as `as`. */
async function roguePeer(url: string, as: string): Promise<WebSocket> {
  const ws = new WebSocket(`${url}/peer`);
  onCleanup(() => ws.terminate());
  ws.on("error", () => undefined);
  await within("a peer connection", new Promise<void>((resolve, reject) => (ws.once("open", () => resolve()), ws.once("error", reject))));
  ws.send(encodePeerHello(asPeerId(as)));
  return ws;
}

const heartbeat = (from: string, to: string, term: number): Message => ({ type: "heartbeat", from: asNodeId(from), to: asNodeId(to), term: asTerm(term), commit: asIndex(0), context: null });

describe("strong mode: bad input over real sockets", { timeout: 60_000 }, () => {
  it("drops garbage, truncated and misaddressed peer frames and a forged term far ahead; the cluster keeps its leader and term, and serves", async () => {
    const cluster = await TestCluster.start(3);
    const store = await cluster.open();
    await store.set("before", 1);
    const leader = await cluster.leader();
    const engine = cluster.node(leader).server!.engine;
    const term = engine.node.status().term;
    const dropped = engine.node.counters.dropped;
    const rogue = await roguePeer(cluster.node(leader).url, leader === "n1" ? "n2" : "n1");
    const valid = encodeMessage(heartbeat(leader === "n1" ? "n2" : "n1", leader, term));
    rogue.send(Uint8Array.of(1, 2, 3));
    rogue.send(valid.subarray(0, valid.length - 2));
    rogue.send(encodeMessage(heartbeat("n3", leader, term))); // says it is n3, on n1's or n2's link
    rogue.send(encodeMessage(heartbeat(leader === "n1" ? "n2" : "n1", leader, 2 ** 53 - 1)));
    await cluster.until("four dropped frames", () => engine.node.counters.dropped >= dropped + 4 || undefined);
    expect(cluster.node(leader).logs.filter((l) => l.event === "raft.term_jump")).toMatchObject([{ term: 2 ** 53 - 1, ours: term }]);
    expect(engine.node.status()).toMatchObject({ role: "leader", term });
    await store.set("after", 2);
    expect(await store.entries()).toStrictEqual([
      ["after", 2],
      ["before", 1],
    ]);
  });

  it("a forged term a little ahead costs an election, nothing acknowledged", async () => {
    const cluster = await TestCluster.start(3);
    const store = await cluster.open();
    for (let i = 0; i < 5; i++) await store.set(`k${i}`, i);
    const leader = await cluster.leader();
    const term = cluster.node(leader).server!.engine.node.status().term;
    const impostor = leader === "n1" ? "n2" : "n1";
    const rogue = await roguePeer(cluster.node(leader).url, impostor);
    rogue.send(encodeMessage(heartbeat(impostor, leader, term + 5)));
    await cluster.until("the leader to move to the forged term", () => cluster.node(leader).server!.engine.node.status().term >= term + 5 || undefined);
    for (let i = 5; i < 10; i++) await store.set(`k${i}`, i);
    expect((await store.entries()).map(([k]) => k)).toStrictEqual(["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"]);
  });

  it("answers garbage and truncated client frames with Protocol errors of id 0, and serves that client and the others on", async () => {
    const cluster = await TestCluster.start(3);
    const store = await cluster.open();
    await store.set("k", 1);
    const leader = await cluster.leader();
    const c = await connectClient(cluster.node(leader).url);
    onCleanup(() => c.ws.terminate());
    let id = 100;
    for (const bytes of [Uint8Array.of(), Uint8Array.of(2, 200), Uint8Array.of(2, 3, 1), Uint8Array.of(1, 6, 1)]) {
      c.sendRaw(bytes);
      const status = expectAnswer(await c.request({ type: "status", id: id++ }), "status");
      expect(status.status).toMatchObject({ role: "leader" });
    }
    expect(c.received.filter((r) => r.type === "error" && r.id === 0 && r.code === "Protocol")).toHaveLength(4);
    expect(await store.get("k")).toBe(1);
  });

  it("applies a client's write once however often it is sent, and refuses a replay of one the client acknowledged", async () => {
    const cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    const c = await connectClient(cluster.node(leader).url);
    onCleanup(() => c.ws.terminate());
    const session = expectAnswer(await c.request({ type: "open-session", id: 1 }), "session-opened").session;
    let id = 10;
    const increment = (seq: number, firstUnacked: number, from: number) =>
      c.request({
        type: "write",
        id: id++,
        doc: "d",
        conditions: [{ test: from === 0 ? "absent" : "equals", key: "n", ...(from === 0 ? {} : { value: from }) } as never],
        ops: [{ kind: "set", key: "n", value: from + 1 }],
        durability: { level: "committed" },
        session: { id: session, seq, firstUnacked },
      });
    const first = expectAnswer(await increment(1, 1, 0), "written");
    const again = expectAnswer(await increment(1, 1, 0), "written");
    expect(again).toMatchObject({ position: first.position, succeeded: true });
    const second = expectAnswer(await increment(2, 3, 1), "written");
    expect(second.succeeded).toBe(true);
    // Seq 1 was acknowledged (firstUnacked 3): its replay is refused, not applied again.
    expect(await increment(1, 1, 2)).toMatchObject({ type: "error", code: "SessionExpired", message: expect.stringMatching(/stale retry/) });
    expect(await increment(1, 3, 2)).toMatchObject({ type: "error", code: "SessionExpired" });
    // A session the cluster never opened.
    expect(await c.request({ type: "write", id: id++, doc: "d", conditions: [], ops: [{ kind: "set", key: "x", value: 1 }], durability: { level: "committed" }, session: { id: 999_999, seq: 1, firstUnacked: 1 } })).toMatchObject({
      type: "error",
      code: "SessionExpired",
    });
    const store = await cluster.open();
    expect(await store.get("n")).toBe(2);
    expect(await store.get("x")).toBeUndefined();
  });
});
