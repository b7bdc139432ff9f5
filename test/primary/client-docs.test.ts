/**
 * Documents and subscriptions of the primary-mode client against real node servers in process on
 * loopback: each `doc` is its own keyspace on the nodes, and a subscription takes effect when
 * `subscribe` returns (a write another store makes right after is heard, even when the subscribe
 * reaches the node only later).
 */
import { afterEach, describe, expect, it } from "vitest";
import { runCleanups } from "../reliability/harness.js";
import { cuttableSockets, open, start, SubscriberView } from "./client-nodes.js";

afterEach(runCleanups);

describe("primary-mode client: documents and subscriptions", { timeout: 30_000 }, () => {
  it("keeps each document its own keyspace: reads, entries, deletes and subscriptions of one never see another's keys", async () => {
    const p = await start("p1", "primary");
    const todos = await open({ nodes: { primary: p.url }, doc: "todos" });
    const notes = await open({ nodes: { primary: p.url }, doc: "notes" });
    const heardByNotes = new SubscriberView();
    notes.subscribe({}, heardByNotes.listener);
    await todos.set("k", "todo");
    await notes.set("k", "note");
    await todos.set("only-todos", 1);
    await heardByNotes.until("the note", () => heardByNotes.map.has("k"));
    expect(await todos.get("k")).toBe("todo");
    expect(await notes.get("k")).toBe("note");
    expect(await notes.get("only-todos")).toBeUndefined();
    expect(await todos.entries()).toStrictEqual([
      ["k", "todo"],
      ["only-todos", 1],
    ]);
    expect(await notes.entries()).toStrictEqual([["k", "note"]]);
    await todos.delete("k");
    expect(await notes.get("k")).toBe("note");
    await notes.set("last", true);
    await heardByNotes.until("the last note", () => heardByNotes.map.has("last"));
    expect(heardByNotes.entries()).toStrictEqual([
      ["k", "note"],
      ["last", true],
    ]);
  });

  it("a store's first subscription hears a write another store makes right after subscribe returned (5 runs)", async () => {
    const p = await start("p1", "primary");
    const writer = await open({ nodes: { primary: p.url } });
    for (let run = 0; run < 5; run++) {
      const subscriber = await open({ nodes: { primary: p.url } });
      const view = new SubscriberView();
      subscriber.subscribe({ prefix: `run${run}/` }, view.listener);
      await writer.set(`run${run}/k`, run);
      await view.until(`run ${run}'s write`, () => view.map.has(`run${run}/k`));
      expect(view.events).toStrictEqual([{ changes: [{ key: `run${run}/k`, value: run }], origin: "remote" }]);
      await subscriber.close();
    }
  });

  it("a subscription whose subscribe reaches the node only after another store's write still hears that write (it starts from where the store knew the node)", async () => {
    const p = await start("p1", "primary");
    const writer = await open({ nodes: { primary: p.url } });
    await writer.set("before", 0);
    const sockets = cuttableSockets();
    const subscriber = await open({ nodes: { primary: p.url }, WebSocket: sockets.WebSocket });
    sockets.cut();
    const view = new SubscriberView();
    subscriber.subscribe({}, view.listener);
    await writer.set("made-after-subscribe", 1);
    sockets.restore();
    await view.until("the write made after subscribe", () => view.map.has("made-after-subscribe"));
    expect(view.events).toStrictEqual([{ changes: [{ key: "made-after-subscribe", value: 1 }], origin: "remote" }]);
  });
});
