import { describe, expect, it } from "vitest";
import { asPeerId } from "../../src/ids.js";
import { MemoryNetwork } from "../../src/net/memory-network.js";
import { describeTransportContract, record } from "./transport-contract.js";

/** Lets every queued microtask (and the ones they queue) run. */
const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describeTransportContract("MemoryNetwork", () => {
  const network = new MemoryNetwork();
  return { join: (id) => network.join(id), settle: drain };
});

describe("MemoryNetwork", () => {
  const a = asPeerId("a");
  const b = asPeerId("b");

  it("delivers on a later microtask, never inside send", async () => {
    const network = new MemoryNetwork();
    const ta = network.join(a);
    record(ta);
    const heard = record(network.join(b));
    await drain();
    ta.send(b, new Uint8Array([1]));
    expect(heard).toEqual([["up", a]]);
    await Promise.resolve();
    expect(heard).toEqual([["up", a], ["message", a, "\u0001"]]);
  });

  it("delivers every message exactly once, in send order", async () => {
    const network = new MemoryNetwork();
    const ta = network.join(a);
    record(ta);
    const heard = record(network.join(b));
    await drain();
    const sent = Array.from({ length: 1000 }, (_, i) => `m${i}`);
    for (const m of sent) ta.send(b, new TextEncoder().encode(m));
    await drain();
    expect(heard.filter((h) => h[0] === "message").map((h) => h[2])).toEqual(sent);
  });
});
