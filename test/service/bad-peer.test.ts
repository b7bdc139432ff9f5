/**
 * Bad input on a node's peer endpoint (`/peer`), end to end: real node servers (a primary p1 and
 * its replica r1) on loopback and real files, and a rogue WebSocket that says the mesh hello under
 * r1's id or a name of its own, then sends replication messages encoded with the real codec that
 * lie, or frames that are no message at all. After the lies: the primary counts none of them
 * toward `{ replicas: n }` (a write waiting for one replica stays pending while only the liar is
 * there, and resolves once the real replica is back), no acknowledged write is lost, the node
 * keeps taking writes and replicating, and the drops show in `dropped` (status and /healthz).
 *
 * Higher epochs (src/primary/replication/fence.ts): nothing on the peer link is authenticated, so a
 * history of a higher epoch naming another node as its primary (an `epoch` notice) fences the
 * primary exactly as a real promotion does: it refuses writes with a redirect and follows that
 * node. Anything else of a higher epoch (an ack, a hello whose history ends below its epoch, a
 * history naming the primary itself) is dropped: it shows no promotion and names no one to follow.
 * Plausible lies (an ack of a record the primary holds, a consistent forged history) are beyond
 * what this protocol can tell: the peer endpoint is for trusted networks (README).
 *
 * The other way round, a rogue that says hello to a replica as its primary: records with a gap, of
 * a future epoch, or whose bytes are no key-value op, a snapshot that does not decode, frames that
 * are no message: the replica applies none of it, keeps serving reads of what it holds, and
 * follows its real primary again once it is back.
 *
 * Every wait is on an event (an answer, a frame, a log entry), bounded by a timeout: after its lies
 * a rogue sends a frame that does not decode, and the node's log entry for that frame says every
 * lie before it was handled (the frames of one socket are handled in order). No sleeps.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { asPeerId } from "../../src/ids.js";
import type { Json } from "../../src/json.js";
import { encodeOp } from "../../src/kv/ops.js";
import { decodePeerHello } from "../../src/net/websocket-mesh.js";
import { decodeReplMessage, encodeReplMessage } from "../../src/primary/replication/codec.js";
import type { ReplMessage } from "../../src/primary/replication/messages.js";
import { asEpoch, asLsn, type EpochHistory } from "../../src/primary/replication/types.js";
import type { Response, WireDurability, WirePosition } from "../../src/service/protocol.js";
import { checkProperty, propRuns } from "../property/prop.js";
import { runCleanups, within } from "../reliability/harness.js";
import { expectAnswer, type NodeClient } from "./node-client.js";
import { client, pair, start, type Started } from "./node-servers.js";
import { damagedFrames, refusal } from "./damaged-frames.js";
import { connectRogue, type RoguePeer } from "./rogue-peer.js";

/** The document the tests read and write. */
const DOC = "d";

afterEach(runCleanups);

const E = asEpoch;
const L = asLsn;
const H1: EpochHistory = [{ epoch: E(1), primary: asPeerId("p1"), startLsn: L(1) }];
/** H1, then epoch `epoch` led by `primary` from LSN `start`. */
const newer = (epoch: number, primary: string, start: number): EpochHistory => [...H1, { epoch: E(epoch), primary: asPeerId(primary), startLsn: L(start) }];

const hello = (lsn: number, epoch = 1, history = H1): ReplMessage => ({
  type: "hello",
  epoch: E(epoch),
  history,
  last: { epoch: E(lsn === 0 ? 0 : 1), lsn: L(lsn) },
});
const ack = (received: number, epoch = 1): ReplMessage => ({ type: "ack", epoch: E(epoch), received: L(received), applied: L(0), gap: false });
const setOp = (key: string, value: Json): Uint8Array => encodeOp({ kind: "set", key, value });

/** A frame that is no replication message: the node logs it (`replication.bad_message`) and drops it. */
const NOT_A_MESSAGE = Uint8Array.of(0xff);

let nextId = 100;

function writeRequest(key: string, value: Json, replicas?: number) {
  const durability: WireDurability = replicas === undefined ? { level: "local" } : { level: "replicas", n: replicas };
  return { type: "write", id: nextId++, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key, value }], durability } as const;
}

/** Writes `key` on `c` and expects it acknowledged. */
async function written(c: NodeClient, key: string, value: Json, replicas?: number): Promise<Extract<Response, { type: "written" }>> {
  return expectAnswer(await c.request(writeRequest(key, value, replicas)), "written");
}

/** Expects `c`'s node to hold exactly `expected` (once it holds `after`, when given). */
async function holds(c: NodeClient, expected: Record<string, Json>, after: WirePosition | null = null): Promise<void> {
  const read = await c.request({ type: "entries", id: nextId++, doc: DOC, prefix: "", read: { consistency: "local", maxStalenessMs: null, after, timeoutMs: 5_000 } });
  expect(Object.fromEntries(expectAnswer(read, "entries").entries)).toStrictEqual(expected);
}

/**
 * True when request `id` on `c` has no answer yet, as of the answer to a status request sent now:
 * that request is handled in a later turn of the node's event loop than anything before it, so an
 * answer due by then was sent (on the same socket, so received) first.
 */
async function unanswered(c: NodeClient, id: number): Promise<boolean> {
  await c.request({ type: "status", id: nextId++ });
  return !c.received.some((r) => r.type !== "changes" && r.id === id);
}

/** Sends `lies` from `rogue`, then a frame that is no message; resolves once `node` handled them all. */
async function told(node: Started, rogue: RoguePeer, lies: readonly ReplMessage[]): Promise<void> {
  const n = node.logs.count("replication.bad_message") + 1;
  for (const m of lies) rogue.send(m);
  rogue.sendRaw(NOT_A_MESSAGE);
  await node.logs.logged("replication.bad_message", n);
}

const status = (s: Started) => s.server.engine.node.status();

async function healthz(s: Started): Promise<Record<string, unknown>> {
  const res = await fetch(`${s.server.url.replace(/^ws:/, "http:")}/healthz`);
  return (await res.json()) as Record<string, unknown>;
}

function expectNoFailure(s: Started): void {
  expect(s.logs.events().filter((e) => e === "node.failed" || e === "handler.error" || e === "session.bug")).toStrictEqual([]);
}

describe("a rogue peer on the primary's /peer endpoint", { timeout: 10_000 }, () => {
  it.each(["r1", "mallory"])(
    "says hello as %s and acks LSNs never written, and a hello past the log: none counts toward { replicas: 1 }; the real replica acks once back",
    async (as) => {
      const { p, r, cp } = await pair();
      await written(cp, "w1", 1, 1);
      await r.server.close();
      const rogue = await connectRogue(p.server.url, as);
      rogue.send(hello(0));
      await rogue.next("the primary's welcome", (m) => m.type === "welcome");

      // The liar said hello, so it is fresh: a write at { replicas: 1 } is taken (LSN 3), and waits.
      const w2 = writeRequest("w2", 2, 1);
      const answer = cp.request(w2);
      const before = status(p).dropped;
      await told(p, rogue, [ack(4), ack(1_000_000), ack(2 ** 53 - 2), hello(1_000), ack(1_000_000)]);
      expect(status(p).dropped).toBe(before + 4 + 1); // the four acks, and the frame that is no message
      expect(await unanswered(cp, w2.id)).toBe(true);
      expect(status(p).replicas.find((x) => x.id === as)?.received ?? 0).toBeLessThan(3);
      expect(await healthz(p)).toMatchObject({ status: "ok", role: "primary", fenced: false, dropped: status(p).dropped });

      // The primary keeps taking writes; the real replica, back (the liar still linked), acks both.
      // Regression for the impostor of r1: the mesh answered a peer on its oldest link, the liar's.
      const w3 = await written(cp, "w3", 3);
      expect(w3.position).toStrictEqual({ epoch: 1, lsn: 4 });
      const back = await start("r1", { replicaOf: { id: "p1", url: p.server.url } }, { dataDir: r.dataDir });
      expect(expectAnswer(await answer, "written")).toMatchObject({ position: { epoch: 1, lsn: 3 }, replicas: ["r1"] });
      const w4 = await written(cp, "w4", 4, 1);
      expect(w4.replicas).toStrictEqual(["r1"]);
      const all = { first: 0, w1: 1, w2: 2, w3: 3, w4: 4 };
      await holds(cp, all);
      await holds(await client(back.server), all, w4.position);
      expectNoFailure(p);
    },
  );

  it("regression: a higher epoch that names no newer primary is dropped and the primary keeps taking writes (a hello of one made it follow itself, fail, and fail again at every restart)", async () => {
    const { p, cp, cr, subscription } = await pair();
    const rogue = await connectRogue(p.server.url, "mallory");
    const before = status(p).dropped;
    await told(p, rogue, [
      ack(0, 99),
      { type: "snapshot-ack", epoch: E(99), lsn: L(0), offset: 0 },
      hello(1, 99), // its history ends at epoch 1
      hello(1, 2, newer(2, "p1", 2)), // names p1 itself as the primary of epoch 2
      { type: "epoch", epoch: E(2), history: newer(2, "p1", 2) },
      { type: "epoch", epoch: E(99), history: H1 }, // its history ends at epoch 1
    ]);
    expect(status(p)).toMatchObject({ role: "primary", epoch: 1, fenced: false, dropped: before + 6 + 1 });
    expect(p.logs.events()).not.toContain("node.fenced");
    const w = await written(cp, "after", 1, 1);
    expect(w.replicas).toStrictEqual(["r1"]);
    await cr.pushedAt(subscription, w.position);
    expectNoFailure(p);

    // Its log took no epoch it never entered: it starts again as the primary of epoch 1.
    await p.server.close();
    const again = await start("p1", "primary", { dataDir: p.dataDir });
    expect(again.server.engine.node.status()).toMatchObject({ role: "primary", epoch: 1, lsn: w.position.lsn });
    await holds(await client(again.server), { first: 0, after: 1 });
  });

  it("a notice of a higher epoch naming another node fences the primary as a real promotion would (the peer link is trusted): writes go to that node, every acked write is still read", async () => {
    const { p, cp } = await pair();
    await written(cp, "a", 1);
    const rogue = await connectRogue(p.server.url, "mallory");
    rogue.send({ type: "epoch", epoch: E(2), history: newer(2, "mallory", 3) });
    // p1 follows its new primary: it says hello to it.
    await rogue.next("p1's hello to mallory", (m) => m.type === "hello" && m.epoch === 2);
    await p.logs.event("node.fenced");
    expect(status(p)).toMatchObject({ role: "replica", primary: "mallory", epoch: 2, lsn: 2 });
    expect(await cp.request(writeRequest("b", 2))).toMatchObject({ type: "error", code: "ReadOnlyReplica", redirect: "mallory" });
    await holds(cp, { first: 0, a: 1 });
    expectNoFailure(p);
  });
});

describe("a rogue that says hello to a replica as its primary", { timeout: 10_000 }, () => {
  it("regression: applies no garbage (records of a future epoch, with a gap, or that are no kv op; a snapshot that does not decode), keeps serving reads, its log stays sound, and it follows the real primary again (they failed it, or made it ignore its primary)", async () => {
    const { p, r, cp, cr } = await pair();
    await written(cp, "a", 1, 1);
    const port = Number(new URL(p.server.url).port);
    await p.server.close();
    const rogue = await connectRogue(r.server.url, "p1");
    const before = status(r).dropped;
    const evil = (lsn: number, epoch = 1) => ({ epoch: E(epoch), lsn: L(lsn), data: setOp("evil", lsn) });
    await told(r, rogue, [
      { type: "records", epoch: E(7), prev: L(2), records: [evil(3, 7)], last: L(3) }, // a future epoch no history showed
      { type: "heartbeat", epoch: E(7), last: L(9) },
      { type: "records", epoch: E(1), prev: L(2), records: [{ ...evil(3), data: Uint8Array.of(1, 0xee, 0) }], last: L(3) }, // no kv op
      { type: "snapshot", epoch: E(1), history: H1, lsn: L(9), common: L(2), offset: 0, data: Uint8Array.of(0xde, 0xad), done: true, total: 2 },
      { type: "welcome", epoch: E(1), history: [{ epoch: E(1), primary: asPeerId("p1"), startLsn: L(2) }], last: L(9) }, // not a history
      { type: "records", epoch: E(1), prev: L(5), records: [evil(6)], last: L(6) }, // a gap: asked again, not applied
    ]);
    expect(status(r)).toMatchObject({ role: "replica", primary: "p1", epoch: 1, lsn: 2, dropped: before + 5 + 1 });
    expect(await healthz(r)).toMatchObject({ status: "ok", role: "replica", epoch: 1, lsn: 2, dropped: before + 6 });
    await holds(cr, { first: 0, a: 1 });
    expectNoFailure(r);

    // The real primary is back: the replica follows it again, and its log held nothing of the rogue's.
    const back = await start("p1", "primary", { dataDir: p.dataDir, port });
    const cb = await client(back.server);
    const b = await written(cb, "b", 2);
    expect(b.position).toStrictEqual({ epoch: 1, lsn: 3 });
    await holds(cr, { first: 0, a: 1, b: 2 }, b.position);
    expect((await written(cb, "c", 3, 1)).replicas).toStrictEqual(["r1"]);
    await r.server.close();
    const again = await start("r1", { replicaOf: { id: "p1", url: back.server.url } }, { dataDir: r.dataDir });
    expect(again.server.engine.node.status()).toMatchObject({ role: "replica", epoch: 1, lsn: 4 });
    await holds(await client(again.server), { first: 0, a: 1, b: 2, c: 3 });
  });
});

// --- Frames that are no message, as a property ------------------------------------------------

/** Valid messages of every type, whose damaged encodings the property sends. */
const VALID: readonly Uint8Array[] = [
  hello(0),
  hello(1, 2, newer(2, "mallory", 2)),
  ack(1),
  { type: "snapshot-ack", epoch: E(1), lsn: L(1), offset: 3 },
  { type: "welcome", epoch: E(1), history: H1, last: L(1) },
  { type: "records", epoch: E(1), prev: L(0), records: [{ epoch: E(1), lsn: L(1), data: setOp("k", "v") }], last: L(1) },
  { type: "snapshot", epoch: E(1), history: H1, lsn: L(1), common: L(0), offset: 0, data: Uint8Array.of(1, 2, 3), done: true, total: 3 },
  { type: "heartbeat", epoch: E(1), last: L(1) },
  { type: "epoch", epoch: E(2), history: newer(2, "mallory", 2) },
].map((m) => encodeReplMessage(m as ReplMessage));

/** Damage no decoder may take (no bit flips): every frame must be refused. */
// Not empty: on a peer link an empty frame is the mesh's keepalive (net/websocket-mesh.ts), never handed to replication.
const damagedFrame = damagedFrames(VALID, { lastTag: 8, decode: (b) => decodeReplMessage(b) }).filter((f) => f.bytes.length > 0);

describe("frames that are no replication message, on the primary's /peer endpoint", { timeout: 30_000 }, () => {
  it("a link that opens with one is closed with 4400; after a hello each is logged and dropped; the primary keeps replicating and loses nothing", async () => {
    const { p, cp } = await pair();
    const acked: Record<string, Json> = { first: 0 };
    let cases = 0;
    await checkProperty(
      fc.asyncProperty(fc.boolean(), fc.array(damagedFrame, { minLength: 1, maxLength: 4 }), async (sayHello, frames) => {
        const rogue = await connectRogue(p.server.url, sayHello ? "mallory" : null);
        try {
          if (!sayHello) {
            const first = frames[0]!;
            fc.pre(refusal(first.bytes, decodePeerHello) !== null);
            rogue.sendRaw(first.bytes);
            expect(await within("the link to be refused", rogue.closed, 5_000)).toMatchObject({ code: 4400 });
          } else {
            const logged = p.logs.count("replication.bad_message");
            const dropped = status(p).dropped;
            for (const f of frames) rogue.sendRaw(f.bytes);
            await within("the frames to be logged", p.logs.logged("replication.bad_message", logged + frames.length), 5_000);
            const errors = p.logs.entries.filter((e) => e.event === "replication.bad_message").slice(logged).map((e) => e["error"]);
            expect(errors).toStrictEqual(frames.map((f) => refusal(f.bytes, decodeReplMessage)));
            expect(status(p).dropped).toBe(dropped + frames.length);
          }
          const key = `case-${++cases}`;
          expect((await written(cp, key, cases, 1)).replicas).toStrictEqual(["r1"]);
          acked[key] = cases;
          expect(status(p)).toMatchObject({ role: "primary", fenced: false });
        } finally {
          rogue.ws.terminate();
        }
      }),
      { numRuns: propRuns(40) },
    );
    await holds(cp, acked);
    expectNoFailure(p);
  });
});
