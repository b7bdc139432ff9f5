/**
 * The node server (src/service/node-server.ts) in process, on real sockets on loopback and real
 * files: a primary and a replica linked over WebSockets replicate; client sockets are answered by
 * their node (reads, writes, subscriptions, redirects, promote); /healthz; garbage frames are
 * answered and survived; close is graceful and durable; bad options and a busy port are refused
 * before the data folder is touched. Every wait is on an event (an answer, a push, a log entry,
 * a close), bounded by a timeout: no sleeps.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { startNodeServer, type PrimaryNodeServerOptions as NodeServerOptions } from "../../src/node-servers.js";
import type { PrimaryEngine } from "../../src/primary/primary-engine.js";
import type { NodeServer as ServedNode } from "../../src/service/node-server.js";

type NodeServer = ServedNode<PrimaryEngine>;
import { runCleanups, tempDir, within } from "../reliability/harness.js";
import { expectAnswer } from "./node-client.js";
import { client, pair, READ, start } from "./node-servers.js";

/** The document the tests read and write. */
const DOC = "d";

afterEach(runCleanups);

describe("node server", { timeout: 30_000 }, () => {
  it("a primary and a replica over real WebSockets replicate; client sockets are answered by their node", async () => {
    const { cp, cr, subscription } = await pair();
    const a = expectAnswer(await cp.request({ type: "write", id: 2, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: "a", value: { n: 1 } }], durability: { level: "replicas", n: 1 } }), "written");
    expect(a).toMatchObject({ position: { epoch: 1, lsn: 2 }, replicas: ["r1"] });
    const pushed = await cr.pushedAt(subscription, a.position);
    expect(pushed.changes).toStrictEqual([{ key: "a", value: { n: 1 } }]);

    const read = expectAnswer(await cr.request({ type: "get", id: 2, doc: DOC, key: "a", read: { ...READ, after: a.position } }), "value");
    expect(read).toMatchObject({ value: { n: 1 }, info: { role: "replica", position: { epoch: 1, lsn: 2 }, lagLsn: 0 } });
    expect(await cr.request({ type: "write", id: 3, doc: DOC, conditions: [], session: null, ops: [{ kind: "delete", key: "a" }], durability: { level: "local" } })).toMatchObject({
      type: "error",
      code: "ReadOnlyReplica",
      redirect: "p1",
    });
    const status = expectAnswer(await cp.request({ type: "status", id: 3 }), "status");
    expect(status.status).toMatchObject({ id: "p1", role: "primary", epoch: 1, lsn: 2, replicas: [{ id: "r1", fresh: true }] });
  });

  it("answers GET /healthz with the node's role, epoch and position; anything else is 404", async () => {
    const { p, r } = await pair();
    const http = (s: NodeServer, path: string) => fetch(`${s.url.replace(/^ws:/, "http:")}${path}`);
    const health = await http(p.server, "/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", id: "p1", role: "primary", primary: "p1", epoch: 1, lsn: 1, fenced: false, discarded: 0 });
    expect(await (await http(r.server, "/healthz")).json()).toMatchObject({ status: "ok", id: "r1", role: "replica", primary: "p1", epoch: 1, lsn: 1 });
    expect((await http(p.server, "/nope")).status).toBe(404);
  });

  it("answers a garbage client frame with an error of id 0 and keeps serving that socket and the others", async () => {
    const { p, cp } = await pair();
    cp.sendRaw(Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
    const error = await cp.until("the error answer to garbage", (r) => r.type === "error" && r.id === 0);
    expect(error).toMatchObject({ type: "error", id: 0, code: "Protocol", redirect: null });
    expect(p.logs.events()).toContain("session.bad_request");
    expect(await cp.request({ type: "status", id: 9 })).toMatchObject({ type: "status", id: 9 });
    const other = await client(p.server);
    expect(await other.request({ type: "get", id: 1, doc: DOC, key: "first", read: READ })).toMatchObject({ type: "value", value: 0 });
  });

  it("promotes the replica over /client: it leads epoch 2, the old primary is fenced and follows it", async () => {
    const { p, r, cp, cr } = await pair();
    expect(await cr.request({ type: "admin", id: 5, action: { type: "promote" } })).toStrictEqual({ type: "admin-done", id: 5, position: { epoch: 2, lsn: 1 } });
    await p.logs.event("node.fenced");
    const s = expectAnswer(await cp.request({ type: "subscribe", id: 5, doc: DOC, prefix: "", from: null }), "subscribed").subscription;
    const b = expectAnswer(await cr.request({ type: "write", id: 6, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: "b", value: 2 }], durability: { level: "local" } }), "written");
    expect(b.position).toStrictEqual({ epoch: 2, lsn: 2 });
    await cp.pushedAt(s, b.position);
    expect(p.server.engine.node.status()).toMatchObject({ role: "replica", primary: "r1", epoch: 2 });
    expect(await cp.request({ type: "write", id: 7, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: "c", value: 3 }], durability: { level: "local" } })).toMatchObject({
      type: "error",
      code: "ReadOnlyReplica",
      redirect: "r1",
    });
    expect(await cr.request({ type: "admin", id: 8, action: { type: "promote" } })).toMatchObject({ type: "error", code: "InvalidArgument", message: "node r1 is already the primary" });
    expect(r.logs.events()).toContain("node.promoted");
  });

  it("closes gracefully: clients get 1001, the log is flushed, and a restart on the same folder holds every write", async () => {
    const { p, cp } = await pair();
    const a = expectAnswer(await cp.request({ type: "write", id: 2, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: "a", value: "kept" }], durability: { level: "local" } }), "written");
    await p.server.close();
    expect(await within("the client socket to close", cp.closed)).toStrictEqual({ code: 1001, reason: "node shutting down" });
    const events = p.logs.events();
    expect(events.indexOf("node.closing")).toBeLessThan(events.indexOf("node.closed"));
    expect(events[events.length - 1]).toBe("node.closed");
    await p.server.close(); // idempotent

    const again = await start("p1", "primary", { dataDir: p.dataDir });
    expect(again.server.engine.node.status()).toMatchObject({ role: "primary", epoch: 1, lsn: a.position.lsn });
    const c = await client(again.server);
    expect(await c.request({ type: "get", id: 1, doc: DOC, key: "a", read: READ })).toMatchObject({ type: "value", value: "kept" });
  });

  it("refuses bad options with InvalidArgument, and a busy port with Io before touching the data folder", async () => {
    const refused = async (o: Partial<NodeServerOptions>): Promise<unknown> => {
      try {
        await startNodeServer({ id: "n1", port: 0, dataDir: tempDir("concord-node-"), role: "primary", log: () => undefined, ...o });
      } catch (e) {
        return e;
      }
      throw new Error(`started with ${JSON.stringify(o)}`);
    };
    const invalid = (message: RegExp) => expect.objectContaining({ code: "InvalidArgument", message: expect.stringMatching(message) });
    expect(await refused({ id: "" })).toEqual(invalid(/id must be a node id/));
    expect(await refused({ role: { replicaOf: { id: "p1", url: "http://127.0.0.1:1" } } })).toEqual(invalid(/role\.replicaOf \(p1\) must be a node's base URL/));
    expect(await refused({ role: { replicaOf: { id: "p1", url: "ws://127.0.0.1:1/x" } } })).toEqual(invalid(/with no path or query/));
    expect(await refused({ role: { replicaOf: { id: "n1", url: "ws://127.0.0.1:1" } } })).toEqual(invalid(/n1 cannot follow itself/));
    expect(await refused({ peers: new Map([["r1", "not a url"]]) })).toEqual(invalid(/peers \(r1\) must be a ws:\/\/ or wss:\/\/ URL/));
    expect(
      await refused({ role: { replicaOf: { id: "p1", url: "ws://127.0.0.1:1" } }, peers: new Map([["p1", "ws://127.0.0.1:2"]]) }),
    ).toEqual(invalid(/the URL p1 has elsewhere \(ws:\/\/127\.0\.0\.1:1\)/));

    const { server } = await start("p1", "primary");
    const dataDir = join(tempDir("concord-node-"), "never");
    const busy = await refused({ port: Number(new URL(server.url).port), dataDir });
    expect(isConcordError(busy, "Io")).toBe(true);
    expect(String((busy as Error).message)).toMatch(/could not listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    expect(existsSync(dataDir)).toBe(false);
  });
});
