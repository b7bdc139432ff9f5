/**
 * Nobody gets in who does not belong, in both node modes: clients by the tokens of the auth file
 * (the one `concord serve --auth` reads) with their documents and access, operators' requests only
 * with an admin token, peers only with the group's secret, and all of it over TLS; the auth file
 * reloaded under open connections. Real servers in this process on loopback, real clients.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WebSocket, type ClientOptions } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import type { WebSocketConstructorLike } from "../../../src/net/websocket-client.js";
import { encodePeerHello } from "../../../src/net/websocket-mesh.js";
import { asPeerId } from "../../../src/ids.js";
import { onCleanup, runCleanups, tempDir, within } from "../../reliability/harness.js";
import { start as startPrimary } from "../../primary/client-nodes.js";
import { openStore } from "../../../src/open-store.js";
import { TestCluster } from "./cluster.js";

afterEach(runCleanups);

const AUTH = {
  tokens: {
    "writer-token-1": { docs: ["todos"], access: "read-write" },
    "reader-token-1": { docs: ["*"], access: "read-only" },
    "operator-token": { docs: ["*"], access: "admin" },
  },
} as const;
const SECRET = "the-group-secret-0123456789";

/** A self-signed certificate for 127.0.0.1 and localhost (valid one day), PEM. */
function certificate(): { cert: string; key: string } {
  const dir = tempDir("concord-tls-");
  const keyFile = join(dir, "k.pem");
  const certFile = join(dir, "c.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1", "-keyout", keyFile, "-out", certFile], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}

/** A WebSocket class that trusts `ca` (a client of a node with a self-signed certificate). */
function trusting(ca: string): WebSocketConstructorLike {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { ca } as ClientOptions);
    }
  } as unknown as WebSocketConstructorLike;
}

describe("who gets in", { timeout: 60_000 }, () => {
  it("strong mode over TLS: tokens open their documents with their access, admin actions need an admin token, peers need the secret", async () => {
    const { cert, key } = certificate();
    const cluster = await TestCluster.start(3, { auth: AUTH, peerSecret: SECRET, tls: { cert, key }, tlsCa: cert });
    expect(cluster.urls[0]).toMatch(/^wss:\/\//);
    const WebSocketClass = trusting(cert);
    const writer = await cluster.open({ doc: "todos", token: "writer-token-1", WebSocket: WebSocketClass });
    await writer.set("todo:1", "milk");
    expect(await writer.get("todo:1")).toBe("milk");

    const elsewhere = await cluster.open({ doc: "notes", token: "writer-token-1", WebSocket: WebSocketClass });
    await expect(elsewhere.set("n", 1)).rejects.toMatchObject({ code: "Unauthorized", message: expect.stringMatching(/may not open "notes"/), details: { outcome: "refused" } });
    await expect(elsewhere.get("n")).rejects.toMatchObject({ code: "Unauthorized" });

    const reader = await cluster.open({ doc: "todos", token: "reader-token-1", WebSocket: WebSocketClass });
    expect(await reader.get("todo:1")).toBe("milk");
    await expect(reader.set("todo:2", "eggs")).rejects.toMatchObject({ code: "Unauthorized", message: expect.stringMatching(/read-only/) });

    const stranger = await cluster.open({ doc: "todos", token: "no-such-token", WebSocket: WebSocketClass, timeoutMs: 2_000 });
    await expect(stranger.get("todo:1")).rejects.toMatchObject({ code: "Unauthorized", message: expect.stringMatching(/4401 unauthorized: unknown token/) });

    // Admin: only with an admin token.
    const leader = await cluster.leader();
    const target = cluster.nodes.find((n) => n.id !== leader)!;
    const engineOf = (id: string) => cluster.node(id).server!.engine;
    const adminVia = async (token: string) => {
      const ws = new (trusting(cert) as unknown as typeof WebSocket)(`${cluster.node(leader).url}/client?token=${token}`);
      onCleanup(() => ws.terminate());
      const { encodeRequest, decodeResponse } = await import("../../../src/service/protocol-codec.js");
      await within("an admin connection", new Promise<void>((resolve) => ws.once("open", () => resolve())));
      ws.send(encodeRequest({ type: "admin", id: 1, action: { type: "transfer", node: target.id } }));
      return within("the admin answer", new Promise<unknown>((resolve) => ws.on("message", (d: Buffer) => resolve(decodeResponse(d)))));
    };
    expect(await adminVia("writer-token-1")).toMatchObject({ type: "error", code: "Unauthorized", message: expect.stringMatching(/admin action/) });
    expect(engineOf(leader).node.status().role).toBe("leader");
    expect(await adminVia("operator-token")).toMatchObject({ type: "admin-done" });
    expect(await cluster.leader()).toBe(target.id);

    // Peers: a link without the secret, or with a wrong one, is refused before it opens.
    for (const headers of [{}, { authorization: "Bearer not-the-secret-at-all" }]) {
      const rogue = new WebSocket(`${target.url}/peer`, { ca: cert, headers } as ClientOptions);
      onCleanup(() => rogue.terminate());
      const refused = await within("the rogue peer to be refused", new Promise<Error>((resolve) => rogue.on("error", resolve)));
      expect(refused.message).toMatch(/401/);
    }
    expect(cluster.node(target.id).logs.filter((l) => l.event === "peer.unauthorized")).toHaveLength(2);
    // With the secret a peer gets in (the mesh itself proves it: the cluster replicates).
    const rightful = new WebSocket(`${target.url}/peer`, { ca: cert, headers: { authorization: `Bearer ${SECRET}` } } as ClientOptions);
    onCleanup(() => rightful.terminate());
    await within("the rightful peer to open", new Promise<void>((resolve) => rightful.once("open", () => resolve())));
    rightful.send(encodePeerHello(asPeerId("n9")));
    await writer.set("todo:3", "after the transfer");
    expect(await reader.get("todo:3")).toBe("after the transfer");
  });

  it("reloads the auth file under open connections: a revoked token's connection is closed and refused from then on", async () => {
    const dir = tempDir("concord-auth-");
    const file = join(dir, "auth.json");
    writeFileSync(file, JSON.stringify(AUTH));
    const cluster = await TestCluster.start(3, { auth: file });
    const writer = await cluster.open({ doc: "todos", token: "writer-token-1", timeoutMs: 2_000 });
    await writer.set("a", 1);
    writeFileSync(file, JSON.stringify({ tokens: { "operator-token": AUTH.tokens["operator-token"] } }));
    for (const n of cluster.nodes) n.server!.reloadAuth();
    await expect(writer.set("b", 2)).rejects.toMatchObject({ code: "Unauthorized" });
    const operator = await cluster.open({ doc: "todos", token: "operator-token" });
    expect(await operator.entries()).toStrictEqual([["a", 1]]);
    expect(cluster.nodes.flatMap((n) => n.logs.filter((l) => l.event === "auth.reloaded"))).toHaveLength(3);
    // A bad file changes nothing.
    writeFileSync(file, "{ not json");
    expect(() => cluster.nodes[0]!.server!.reloadAuth()).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    expect(await operator.get("a")).toBe(1);
  });

  it("primary mode: promote needs an admin token; tokens open their documents", async () => {
    const p = await startPrimary("p1", "primary", { auth: AUTH });
    const r = await startPrimary("r1", { replicaOf: { id: "p1", url: p.url } }, { auth: AUTH });
    const writer = await openStore({ mode: "primary", doc: "todos", nodes: { primary: p.url, replicas: [r.url] }, token: "writer-token-1" });
    onCleanup(() => writer.close());
    await writer.set("k", 1, { durability: { replicas: 1 } });
    const { promote } = await import("../../../src/cli/promote.js");
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (stderr.push(String(chunk)), true)) as typeof process.stderr.write;
    let refused: number;
    try {
      refused = await promote(["--node", r.url, "--token", "writer-token-1"]);
    } finally {
      process.stderr.write = write;
    }
    expect(refused).toBe(1);
    expect(stderr.join("")).toMatch(/refused: Unauthorized: .*admin action/);
    expect(r.server.engine.node.role).toBe("replica");
    const stdout: string[] = [];
    const out = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (stdout.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      expect(await promote(["--node", r.url, "--token", "operator-token"])).toBe(0);
    } finally {
      process.stdout.write = out;
    }
    expect(r.server.engine.node.role).toBe("primary");
    const other = await openStore({ mode: "primary", doc: "notes", nodes: { primary: p.url }, token: "writer-token-1" });
    onCleanup(() => other.close());
    await expect(other.get("k")).rejects.toMatchObject({ code: "Unauthorized" });
  });
});
