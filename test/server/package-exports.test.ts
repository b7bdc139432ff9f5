/**
 * The package's entry points resolve as a user's import would (through package.json `exports`,
 * from the built dist): the embedded API at `concord-store`, the server at `concord-store/server`,
 * a `primary`-mode node at `concord-store/node`, kept apart so browser bundles of the first never
 * pull `ws` or `node:http`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

describe("package entry points", () => {
  it("concord-store exports the embedded API and not the server", async () => {
    const main = (await import("concord-store")) as Record<string, unknown>;
    expect(typeof main["openStore"]).toBe("function");
    expect(typeof main["fileStorage"]).toBe("function");
    expect(main["startServer"]).toBeUndefined();
    expect(main["startNodeServer"]).toBeUndefined();
  });

  it("concord-store/server exports startServer, which serves", async () => {
    // Both from the built package, as a user gets them (their types come from dist/ too).
    const { startServer } = await import("concord-store/server");
    const { memoryStorage } = await import("concord-store");
    const server = await startServer({ port: 0, persistence: memoryStorage(), onLog: () => undefined });
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(health.status).toBe(200);
    await server.close();
  });

  it("concord-store/node embeds a primary and a replica in this process, which the primary-mode client uses", async () => {
    const { startNodeServer } = await import("concord-store/node");
    const { openStore } = await import("concord-store");
    const dirs = [await mkdtemp(join(tmpdir(), "concord-embed-")), await mkdtemp(join(tmpdir(), "concord-embed-"))];
    const silent = (): void => undefined;
    const primary = await startNodeServer({ id: "p1", port: 0, dataDir: dirs[0]!, role: "primary", log: silent });
    const replica = await startNodeServer({ id: "r1", port: 0, dataDir: dirs[1]!, role: { replicaOf: { id: "p1", url: primary.url } }, log: silent });
    const store = await openStore({ mode: "primary", doc: "embedded", nodes: { primary: primary.url, replicas: [replica.url] }, read: "replica" });
    try {
      await store.set("k", "v", { durability: { replicas: 1 } });
      expect(await store.get("k")).toBe("v");
      expect(store.readInfo()).toMatchObject({ role: "replica" });
      expect(replica.engine.node.status()).toMatchObject({ role: "replica", primary: "p1" });
    } finally {
      await store.close();
      await replica.close();
      await primary.close();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    }
  });
});
