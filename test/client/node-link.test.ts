/**
 * The link of a node-backed client to one node (src/client/node-link.ts), against a scripted node
 * on a real loopback socket: every connection opens with a hello, and waiting for its welcome
 * resolves at once when it came already (a store opening while discovery ran first once waited a
 * whole timeout for a welcome that had come).
 */
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import { webSocketLink } from "../../src/client/websocket-link.js";
import { onCleanup, runCleanups, within } from "../reliability/harness.js";
import { scriptedNode } from "../primary/client-nodes.js";

afterEach(runCleanups);

describe("NodeLink", () => {
  it("opens each connection with a hello, and whenWelcomed resolves at once once its welcome came (regression: it waited for the next one)", async () => {
    const requests: string[] = [];
    const node = await scriptedNode((req, send) => {
      requests.push(req.type);
      if (req.type === "status") send({ type: "status", id: req.id, status: { ok: true } });
    });
    const welcomes: unknown[] = [];
    const link = webSocketLink(node.url, { clock: systemClock }, { onChanges: () => undefined, onUp: () => undefined, onWelcome: (w) => welcomes.push(w) });
    onCleanup(() => link.close());
    expect(await link.request({ type: "status" }, 5_000)).toMatchObject({ type: "status" });
    expect(welcomes).toStrictEqual([{ node: "scripted", position: { epoch: 0, lsn: 0 } }]);
    // The welcome came before this call: no waiting for another one (the timeout is far off).
    await within("whenWelcomed on a welcomed connection", link.whenWelcomed(60_000), 1_000);
    expect(link.welcome).toStrictEqual({ node: "scripted", position: { epoch: 0, lsn: 0 } });
    expect(requests).toStrictEqual(["status"]);
  });

  it("a write answered with a refusal before ordering fails as refused; one answered Internal (a server bug) as of unknown outcome", async () => {
    const node = await scriptedNode((req, send) => {
      if (req.type !== "write") return;
      const op = req.ops[0];
      const code = op?.kind === "set" && op.key === "refused" ? "Unavailable" : "Internal";
      send({ type: "error", id: req.id, code, message: `scripted ${code}`, redirect: null });
    });
    const link = webSocketLink(node.url, { clock: systemClock }, { onChanges: () => undefined, onUp: () => undefined, onWelcome: () => undefined });
    onCleanup(() => link.close());
    const write = (key: string) =>
      link.request({ type: "write", doc: "d", conditions: [], session: null, ops: [{ kind: "set", key, value: 1 }], durability: { level: "local" } }, 5_000);
    await expect(write("refused")).rejects.toMatchObject({ code: "Unavailable", details: { outcome: "refused" } });
    await expect(write("bug")).rejects.toMatchObject({ code: "Internal", details: { outcome: "unknown" }, message: expect.stringMatching(/may or may not have been applied/) });
  });
});
