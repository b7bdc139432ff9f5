/**
 * `concord serve` scaled out over shared engines (their in-memory twins here; real Redis and
 * PostgreSQL in `scale-out-engines.test.ts`): stock y-websocket clients on different instances
 * see each other's edits and presence, presence goes when its instance goes, an instance that
 * loses the shared log stops acknowledging, and a document loads from snapshot plus log.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MemoryHub } from "../../src/hub/memory-hub.js";
import { asDocId } from "../../src/ids.js";
import { awarenessState, connect, hasValue, runCleanups, synced } from "../server/fixtures.js";
import { editsAndPresenceReachAll, startInstance } from "./instances.js";
import { compactDocument } from "../../src/hub/compactor.js";

afterEach(runCleanups);

const engines = (hub: MemoryHub) => ({ log: hub.log(), bus: hub.bus(), snapshots: hub.snapshots() });

describe("scale-out over the in-memory engines", () => {
  it("clients spread over three instances converge, edits and presence both ways", async () => {
    const hub = new MemoryHub();
    const instances = await Promise.all(["a", "b", "c"].map((name) => startInstance(name, engines(hub))));
    await editsAndPresenceReachAll(instances, "todos");
    // Every update is in the log once: what each instance's clients sent, appended by that instance.
    const origins = hub.entries(asDocId("todos")).map((e) => e.origin);
    expect(new Set(origins)).toEqual(new Set(["a", "b", "c"]));
  });

  it("the presence of an instance's clients goes everywhere when the instance goes", async () => {
    const { a, onA, onB, aId } = await presenceAcrossTwo();
    onA.provider.disconnect();
    await a.server.close();
    await awarenessState(onB, "a's client's presence gone", () => !onB.provider.awareness.getStates().has(aId));
  });

  it("a client's presence goes from the other instances when it disconnects (its instance still up)", async () => {
    const { a, onA, onB, aId } = await presenceAcrossTwo();
    onA.provider.disconnect();
    await awarenessState(onB, "a's client's presence gone", () => !onB.provider.awareness.getStates().has(aId));
    expect(a.server.health().shared?.instances).toEqual(["b"]); // a is alive: the store removed it, not the heartbeat
  });

  it("an instance whose shared log is down stops acknowledging and says so; it recovers when the log is back", async () => {
    const hub = new MemoryHub();
    const a = await startInstance("a", engines(hub));
    const client = connect(a.server, "doc");
    await synced(client);
    client.map.set("before", 1);
    await a.logged((e) => e.event === "room.opened");
    await hubHas(hub, "doc", 1);
    hub.down("log");
    client.map.set("during", 3);
    await a.logged((e) => e.event === "room.stopped");
    expect(hub.entries(asDocId("doc"))).toHaveLength(1);
    await new Promise<void>((resolve) => {
      const check = () => (a.server.health().status === "failing" ? resolve() : setTimeout(check, 20));
      check();
    });
    expect(a.server.health().shared?.log.up).toBe(false);
    const metrics = await (await fetch(`${a.server.url.replace(/^ws/, "http")}/metrics`)).text();
    expect(metrics).toMatch(/^concord_shared_engine_up\{engine="log"\} 0$/m);
    expect(metrics).toMatch(/^concord_shared_engine_up\{engine="snapshots"\} 1$/m);
    hub.up();
    client.map.set("after", 2);
    // The client reconnects (the room closed it with 1011) and sends what the server lacks.
    await hubHas(hub, "doc", 2);
    const fresh = connect(a.server, "doc");
    await hasValue(fresh, "before", 1);
    await hasValue(fresh, "during", 3);
    await hasValue(fresh, "after", 2);
  });

  it("an instance that lagged behind a compaction's trim gets what was trimmed from the snapshot", async () => {
    const hub = new MemoryHub();
    const e = engines(hub);
    const [a, b] = await Promise.all(["a", "b"].map((name) => startInstance(name, engines(hub))));
    const writer = connect(a!.server, "lag");
    const reader = connect(b!.server, "lag");
    await Promise.all([synced(writer), synced(reader)]);
    hub.hold(asDocId("lag")); // b reads nothing of the log for now
    for (let i = 0; i < 5; i++) writer.map.set(`early${i}`, i);
    await hubHas(hub, "lag", 5);
    await compactDocument(asDocId("lag"), e); // folds and trims them before b read them
    expect(hub.entries(asDocId("lag"))).toEqual([]);
    writer.map.set("late", true);
    await hubHas(hub, "lag", 1);
    hub.release(asDocId("lag"));
    await hasValue(reader, "late", true);
    for (let i = 0; i < 5; i++) await hasValue(reader, `early${i}`, i);
  });

  it("a document loads from its snapshot plus the log's tail, after a compaction", async () => {
    const hub = new MemoryHub();
    const e = engines(hub);
    const a = await startInstance("a", e);
    const writer = connect(a.server, "notes");
    await synced(writer);
    for (let i = 0; i < 5; i++) writer.map.set(`k${i}`, i);
    await hubHas(hub, "notes", 5);
    const done = await compactDocument(asDocId("notes"), e);
    expect(done?.folded).toBe(5);
    expect(hub.entries(asDocId("notes"))).toEqual([]);
    writer.map.set("tail", true);
    await hubHas(hub, "notes", 1);
    const b = await startInstance("b", engines(hub));
    const reader = connect(b.server, "notes");
    for (let i = 0; i < 5; i++) await hasValue(reader, `k${i}`, i);
    await hasValue(reader, "tail", true);
  });
});

/** Instances a and b, a client on each, a's client's presence seen by b's. */
async function presenceAcrossTwo() {
  const hub = new MemoryHub();
  const [a, b] = await Promise.all(["a", "b"].map((name) => startInstance(name, engines(hub))));
  const onA = connect(a!.server, "doc");
  const onB = connect(b!.server, "doc");
  await Promise.all([synced(onA), synced(onB)]);
  onA.provider.awareness.setLocalState({ user: "on-a" });
  const aId = onA.provider.awareness.clientID;
  await awarenessState(onB, "a's client's presence", () => onB.provider.awareness.getStates().has(aId));
  return { a: a!, onA, onB, aId };
}

/** Resolves once `doc`'s log holds `n` entries (the memory hub appends synchronously on the instance's call). */
function hubHas(hub: MemoryHub, doc: string, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = (): void => {
      if (hub.entries(asDocId(doc)).length >= n) return resolve();
      if (Date.now() - started > 10_000) return reject(new Error(`the log of ${doc} holds ${hub.entries(asDocId(doc)).length} entries, not ${n}`));
      setTimeout(check, 10);
    };
    check();
  });
}
