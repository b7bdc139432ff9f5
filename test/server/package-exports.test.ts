/**
 * The package's entry points resolve as a user's import would (through package.json `exports`,
 * from the built dist): the embedded API at `concord-store`, the server at `concord-store/server`,
 * kept apart so browser bundles of the former never pull `ws` or `node:http`.
 */
import { describe, expect, it } from "vitest";

describe("package entry points", () => {
  it("concord-store exports the embedded API and not the server", async () => {
    const main = (await import("concord-store")) as Record<string, unknown>;
    expect(typeof main["openStore"]).toBe("function");
    expect(typeof main["fileStorage"]).toBe("function");
    expect(main["startServer"]).toBeUndefined();
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
});
