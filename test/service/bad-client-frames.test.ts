/**
 * Malformed client frames on a node's `/client` endpoint, over real sockets on loopback against a
 * real primary p1 and its replica r1 (node-server.test.ts covers one garbage frame; this covers
 * the rest). Each frame is answered, or its socket closed, as documented:
 *
 * - a frame that does not decode (cut short, trailing bytes, another version, an unknown request
 *   type, op kind or durability level, an empty key, a key that is not UTF-8, a number past
 *   2^53 - 1 where a "negative" timeout would go, a value that is no canonical JSON, text): an
 *   `error` of id 0, code `Protocol`, with the decoder's message naming the field;
 * - a frame over `maxRequestBytes`: the socket is closed with 1009 (ws never reads it);
 * - a valid frame with arguments the node refuses (`committed`, `{ replicas: 1e9 }`, an unknown
 *   subscription, a promote of the primary, a position it never reaches): an `error` with the
 *   request's id and its code (src/errors.ts);
 *
 * and after each the socket, the other clients and the replication go on, and every acknowledged
 * write is read back, nothing more. Every wait is on an answer or a close, bounded by a timeout.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { encodeVersioned, type Writer } from "../../src/codec/primitives.js";
import type { Json } from "../../src/json.js";
import type { KvOp } from "../../src/kv/ops.js";
import { KvState } from "../../src/kv/kv-state.js";
import type { Request, Response, WirePosition, WriteOp } from "../../src/service/protocol.js";
import { decodeRequest, encodeRequest, PROTOCOL_FORMAT, REQUEST_TAGS } from "../../src/service/protocol-codec.js";
import { checkProperty, propRuns } from "../property/prop.js";
import { runCleanups, within } from "../reliability/harness.js";
import { damagedFrames, refusal } from "./damaged-frames.js";
import { expectAnswer, type NodeClient } from "./node-client.js";
import { client, pair, READ } from "./node-servers.js";

/** The document the tests read and write. */
const DOC = "d";

afterEach(runCleanups);

let nextId = 1_000;

/** A frame written with the codec's own primitives, right or wrong. */
const frame = (write: (w: Writer) => void): Uint8Array => encodeVersioned(PROTOCOL_FORMAT, write);
/** A `get` of key "k" of document "d" up to its read options after the consistency, which `read` writes. */
const getFrame = (read: (w: Writer) => void): Uint8Array =>
  frame((w) => {
    w.tag(REQUEST_TAGS.get);
    w.uint(7, "id");
    w.id(DOC, "doc");
    w.string("k", "key");
    w.tag(2); // local
    read(w);
  });
/** The start of a `write` to document "d" with no conditions, up to its ops. */
const writeHead = (w: Writer): void => {
  w.tag(REQUEST_TAGS.write);
  w.uint(7, "id");
  w.id(DOC, "doc");
  w.count(0, "conditions");
};
/** A `write` of one `set` of key "k", whose value `value` writes. */
const setFrame = (value: (w: Writer) => void): Uint8Array =>
  frame((w) => {
    writeHead(w);
    w.count(1, "ops");
    w.tag(1);
    w.string("k", "key");
    value(w);
    w.tag(1); // local
  });
const raw = (w: Writer, bytes: readonly number[]): void => bytes.forEach((b) => w.u8(b));
/** An f64 as the codec writes it (big-endian), any bit pattern. */
const f64 = (n: number): number[] => {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, n);
  return [...new Uint8Array(v.buffer)];
};

const VALID_WRITE = encodeRequest({ type: "write", id: 7, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: "k", value: 1 }], durability: { level: "local" } });

/** Frames that do not decode, each with what it is. */
const UNDECODABLE: readonly [string, Uint8Array | string][] = [
  ["an empty frame", new Uint8Array(0)],
  ["a request cut short", VALID_WRITE.subarray(0, VALID_WRITE.length - 1)],
  ["trailing bytes", Uint8Array.from([...VALID_WRITE, 0])],
  ["version 3", Uint8Array.from([3, ...VALID_WRITE.subarray(1)])],
  ["an unknown request type", frame((w) => (w.tag(99), w.uint(7, "id")))],
  ["an unknown op kind", frame((w) => (writeHead(w), w.count(1, "ops"), w.tag(9), w.string("k", "key")))],
  ["an unknown condition test", frame((w) => (w.tag(REQUEST_TAGS.write), w.uint(7, "id"), w.id(DOC, "doc"), w.count(1, "conditions"), w.tag(9), w.string("k", "key")))],
  ["an unknown durability level", frame((w) => (writeHead(w), w.count(0, "ops"), w.tag(7)))],
  ["more ops than bytes", frame((w) => (writeHead(w), w.count(1_000_000, "ops")))],
  ["an empty document name", frame((w) => (w.tag(REQUEST_TAGS.get), w.uint(7, "id"), raw(w, [0]), w.string("k", "key"), w.tag(2), w.bool(false), w.bool(false), w.uint(0, "t")))],
  ["an empty key", frame((w) => (w.tag(REQUEST_TAGS.get), w.uint(7, "id"), w.id(DOC, "doc"), w.string("", "key"), w.tag(2), w.bool(false), w.bool(false), w.uint(0, "t")))],
  ["a key that is not UTF-8", frame((w) => (w.tag(REQUEST_TAGS.get), w.uint(7, "id"), w.id(DOC, "doc"), raw(w, [2, 0xc3, 0x28]), w.tag(2), w.bool(false), w.bool(false), w.uint(0, "t")))],
  ["an unknown read consistency", frame((w) => (w.tag(REQUEST_TAGS.get), w.uint(7, "id"), w.id(DOC, "doc"), w.string("k", "key"), w.tag(3), w.bool(false), w.bool(false), w.uint(0, "t")))],
  ["a replicas count past 2^53 - 1 (where -1 would go)", frame((w) => (writeHead(w), w.count(0, "ops"), w.tag(2), raw(w, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])))],
  ["a timeoutMs past 2^53 - 1", getFrame((w) => (w.bool(false), w.bool(false), raw(w, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])))],
  ["a presence flag of 2", getFrame((w) => (w.u8(2), w.bool(false), w.uint(0, "t")))],
  ["a value of NaN", setFrame((w) => (w.tag(5), raw(w, f64(Number.NaN))))],
  ["an integer written as a float", setFrame((w) => (w.tag(5), raw(w, f64(3))))],
  ["an object with its keys out of order", setFrame((w) => (w.tag(8), w.uint(2, "n"), w.string("b", "k"), w.tag(0), w.string("a", "k"), w.tag(0)))],
  ["an unknown JSON tag", setFrame((w) => w.tag(9))],
  ["a text frame", "write k=1"],
];

let statusId = 2 ** 40;

/**
 * What the node answers a frame the decoder refuses with `message`: that message, and for a frame
 * of another protocol version, what to do about it after it.
 */
const decoderMessage = (message: string) => expect.stringMatching(new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|\\. The client speaks an? (older|newer) version)`));

/**
 * Sends `bytes` (a string: as a text frame), then a status request; resolves with what `c` got
 * in between and the status answer. The session answers an undecodable frame before it reads the
 * next one, so its answer is among them.
 */
async function sendThenStatus(c: NodeClient, bytes: Uint8Array | string): Promise<Response[]> {
  const from = c.received.length;
  if (typeof bytes === "string") c.ws.send(bytes);
  else c.sendRaw(bytes);
  const id = statusId++;
  await c.request({ type: "status", id });
  return c.received.slice(from);
}

const writeOf = (key: string, value: Json, durability: Extract<Request, { type: "write" }>["durability"] = { level: "local" }) =>
  ({ type: "write", id: nextId++, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key, value }], durability }) as const;

/** Expects `c`'s node to hold exactly `expected` (once it holds `after`, when given). */
async function holds(c: NodeClient, expected: readonly (readonly [string, Json])[], after: WirePosition | null = null): Promise<void> {
  const read = await c.request({ type: "entries", id: nextId++, doc: DOC, prefix: "", read: { ...READ, after } });
  expect(expectAnswer(read, "entries").entries).toStrictEqual(expected);
}

describe("malformed client frames on /client, over a real socket", { timeout: 10_000 }, () => {
  it("answers each frame that does not decode with an error of id 0 and the decoder's message; the socket, the others and replication go on", async () => {
    const { p, cp, cr, subscription } = await pair();
    const c = await client(p.server);
    for (const [what, bytes] of UNDECODABLE) {
      const expected = refusal(typeof bytes === "string" ? Buffer.from(bytes) : bytes, decodeRequest);
      expect(expected, `${what} must not decode`).not.toBeNull();
      const got = await sendThenStatus(c, bytes);
      expect(got, what).toMatchObject([{ type: "error", id: 0, code: "Protocol", message: decoderMessage(expected!), redirect: null }, { type: "status" }]);
    }
    expect(p.logs.count("session.bad_request")).toBe(UNDECODABLE.length);
    const w = expectAnswer(await c.request(writeOf("after", 1, { level: "replicas", n: 1 })), "written");
    expect(w.replicas).toStrictEqual(["r1"]);
    await cr.pushedAt(subscription, w.position);
    const all = [
      ["after", 1],
      ["first", 0],
    ] as const;
    await holds(cp, all);
    await holds(cr, all, w.position);
    expect(p.logs.events()).not.toContain("session.bug");
  });

  it("answers valid frames whose arguments the node refuses with that request's id and a typed code; a long key is just a key", async () => {
    const { p, cp } = await pair();
    const c = await client(p.server);
    const refused = async (req: Request, code: string, message: RegExp): Promise<void> => {
      expect(await c.request(req), JSON.stringify(req).slice(0, 200)).toMatchObject({ type: "error", id: req.id, code, message: expect.stringMatching(message) });
    };
    await refused(writeOf("x", 1, { level: "committed" }), "InvalidArgument", /strong mode's level/);
    await refused(writeOf("x", 1, { level: "replicas", n: 1e9 }), "Unavailable", /asks for 1000000000/);
    await refused(writeOf("x", 1, { level: "replicas", n: 2 ** 53 - 1 }), "Unavailable", /asks for 9007199254740991/);
    await refused({ type: "unsubscribe", id: nextId++, subscription: 2 ** 53 - 1 }, "InvalidArgument", /no subscription 9007199254740991/);
    await refused({ type: "admin", id: nextId++, action: { type: "promote" } }, "InvalidArgument", /already the primary/);
    await refused({ type: "get", id: nextId++, doc: DOC, key: "x", read: { ...READ, after: { epoch: 0, lsn: 5 }, timeoutMs: 0 } }, "Timeout", /does not hold LSN 5 of epoch 0/);
    await refused({ type: "get", id: nextId++, doc: DOC, key: "x", read: { ...READ, after: { epoch: 9, lsn: 1 }, timeoutMs: 1 } }, "Timeout", /does not hold LSN 1 of epoch 9/);

    const long = "k".repeat(100_000);
    expectAnswer(await c.request(writeOf(long, "long")), "written");
    expectAnswer(await c.request({ type: "write", id: nextId++, doc: DOC, conditions: [], session: null, ops: [], durability: { level: "replicas", n: 0 } }), "written"); // an empty batch takes an LSN
    expect(await c.request({ type: "get", id: nextId++, doc: DOC, key: long, read: { ...READ, maxStalenessMs: 0 } })).toMatchObject({ type: "value", value: "long" });
    await holds(cp, [
      ["first", 0],
      [long, "long"],
    ]);
    expect(p.logs.events()).not.toContain("session.bug");
  });

  it("closes a socket whose frame is over maxRequestBytes with 1009 and takes one at the limit; the other clients go on and lose nothing", async () => {
    const limit = 4_096;
    const { p, cp, cr } = await pair({ maxRequestBytes: limit });
    const base = encodeRequest(writeOf("big", "")).length;
    const atLimit = writeOf("big", "v".repeat(limit - base - 1)); // one byte more for the string's longer length
    expect(encodeRequest(atLimit).length).toBe(limit);
    const c = await client(p.server);
    const w = expectAnswer(await c.request(atLimit), "written");

    c.sendRaw(new Uint8Array(limit + 1));
    expect(await within("the socket to be closed", c.closed, 5_000)).toMatchObject({ code: 1009 });
    const after = expectAnswer(await cp.request(writeOf("after", 2, { level: "replicas", n: 1 })), "written");
    const all = [
      ["after", 2],
      ["big", atLimit.ops[0].value],
      ["first", 0],
    ] as const;
    await holds(cp, all);
    await holds(cr, all, after.position);
    expect(w.position.lsn).toBeLessThan(after.position.lsn);
  });

  it("regression: a read whose timeoutMs is past what a timer holds waits for its position (it answered Timeout at once)", async () => {
    const { p, cp } = await pair();
    const c = await client(p.server);
    // The position comes 20 fsynced writes later: well past the 1 ms after which an overflowing
    // platform timer fires.
    const read = c.request({ type: "get", id: nextId++, doc: DOC, key: "later", read: { ...READ, after: { epoch: 1, lsn: 21 }, timeoutMs: 2 ** 53 - 1 } });
    for (let i = 0; i < 19; i++) expectAnswer(await cp.request(writeOf(`before/${i}`, i)), "written");
    expectAnswer(await cp.request(writeOf("later", "here")), "written");
    expect(await read).toMatchObject({ type: "value", value: "here", info: { position: { epoch: 1, lsn: 21 } } });
  });
});

// --- Damaged requests, as a property ------------------------------------------------------------

/** Valid requests of every type (no `after`: a flipped one may still wait, for a position never reached). */
const VALID: readonly Uint8Array[] = (
  [
    { type: "get", id: 11, doc: DOC, key: "k", read: { consistency: "local", maxStalenessMs: 100, after: null, timeoutMs: 50 } },
    { type: "entries", id: 12, doc: DOC, prefix: "k", read: READ },
    { type: "write", id: 13, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: "k", value: { a: [1, "two", null] } }], durability: { level: "local" } },
    { type: "write", id: 14, doc: DOC, conditions: [], session: null, ops: [{ kind: "delete", key: "k" }, { kind: "set", key: "j", value: -1.5 }], durability: { level: "replicas", n: 1 } },
    { type: "subscribe", id: 15, doc: DOC, prefix: "", from: null },
    { type: "unsubscribe", id: 16, subscription: 1 },
    { type: "status", id: 17 },
    { type: "admin", id: 18, action: { type: "promote" } },
    { type: "hello", id: 19 },
    { type: "write", id: 20, doc: "other", conditions: [], session: null, ops: [{ kind: "set", key: "o", value: true }], durability: { level: "local" } },
  ] satisfies Request[]
).map(encodeRequest);

const damagedRequest = damagedFrames(VALID, { lastTag: 9, flips: true, decode: (b) => decodeRequest(b) });

type Written = Extract<Response, { type: "written" }>;

describe("damaged requests on /client", { timeout: 30_000 }, () => {
  it("each is refused with Protocol and the decoder's message, or served as the request it decodes to; acked writes are all there, nothing else", async () => {
    const { p, cp, cr } = await pair();
    /** Every write acknowledged, by LSN: the first of pair(), the ones frames decoded to, the probes; with its document. */
    const acked = new Map<number, { doc: string; op: KvOp }>([[1, { doc: DOC, op: { kind: "set", key: "first", value: 0 } }]]);
    const note = (w: Written, doc: string, ops: readonly WriteOp[]): void => void acked.set(w.position.lsn, { doc, op: ops.length === 1 ? ops[0]! : { kind: "batch", ops } });
    let cases = 0;
    await checkProperty(
      fc.asyncProperty(fc.array(damagedRequest, { minLength: 1, maxLength: 4 }), async (frames) => {
        const decoded = frames.map((f) => (refusal(f.bytes, decodeRequest) === null ? decodeRequest(f.bytes) : null));
        const writes = decoded.filter((r): r is Extract<Request, { type: "write" }> => r?.type === "write");
        // Answers are told apart by id: a case whose frames decode to writes of one id is skipped.
        fc.pre(new Set(writes.map((r) => r.id)).size === writes.length);
        const c = await client(p.server);
        try {
          for (const [i, f] of frames.entries()) {
            const got = await sendThenStatus(c, f.bytes);
            const error = refusal(f.bytes, decodeRequest);
            const protocol = got.filter((r) => r.type === "error" && r.id === 0 && r.code === "Protocol");
            if (error !== null) expect(protocol, f.what).toMatchObject([{ message: decoderMessage(error) }]);
            else expect(protocol, `${f.what} decodes to ${JSON.stringify(decoded[i])}`).toStrictEqual([]);
          }
          for (const req of writes) {
            const answer = await c.until(`the answer to write #${req.id}`, (r) => r.type !== "changes" && r.id === req.id);
            if (answer.type === "written") note(answer, req.doc, req.ops);
            else expect(answer, JSON.stringify(req).slice(0, 200)).toMatchObject({ type: "error" });
          }
          // The node still serves, and replicates.
          const probe = writeOf(`probe-${++cases}`, cases, { level: "replicas", n: 1 });
          const w = expectAnswer(await cp.request(probe), "written");
          expect(w.replicas).toStrictEqual(["r1"]);
          note(w, probe.doc, probe.ops);
        } finally {
          c.ws.terminate();
        }
      }),
      { numRuns: propRuns(60) },
    );
    // Document "d" holds exactly the writes acknowledged to it: none of the other documents' frames decoded to.
    const model = new KvState();
    for (const lsn of [...acked.keys()].sort((a, b) => a - b)) if (acked.get(lsn)!.doc === DOC) model.apply(acked.get(lsn)!.op);
    const last = Math.max(...acked.keys());
    await holds(cp, model.entries());
    await holds(cr, model.entries(), { epoch: 1, lsn: last });
    expect(p.logs.events()).not.toContain("session.bug");
  });
});
