/**
 * Interop with the reference implementation: y-protocols reads what we write, we read what it
 * writes, and a SyncCore syncs with peers driven by y-protocols the way y-websocket drives them.
 */
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { afterEach, describe, expect, it } from "vitest";
import * as authProtocol from "y-protocols/auth";
import * as awarenessProtocol from "y-protocols/awareness";
import * as syncProtocol from "y-protocols/sync";
import * as Y from "yjs";
import { asPeerId, type PeerId } from "../../../src/ids.js";
import { decodeMessage, encodeMessage, MessageType } from "../../../src/eventual/sync/protocol.js";
import { SyncCore } from "../../../src/eventual/sync/sync-core.js";

/** y-protocols' Awareness runs an interval timer; every one created here is destroyed after the test. */
const awarenesses: awarenessProtocol.Awareness[] = [];
afterEach(() => {
  for (const a of awarenesses.splice(0)) a.destroy();
});

function stockAwareness(doc: Y.Doc): awarenessProtocol.Awareness {
  const awareness = new awarenessProtocol.Awareness(doc);
  awarenesses.push(awareness);
  return awareness;
}

/** Builds a y-websocket frame: outer message type, then what `write` adds. */
function frame(messageType: number, write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, messageType);
  write(e);
  return encoding.toUint8Array(e);
}

function docWithText(clientId: number, text: string): Y.Doc {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  doc.getText("t").insert(0, text);
  return doc;
}

/**
 * A peer driven by y-protocols exactly as y-websocket's client drives it: step 1 and its awareness
 * on open, answers through `readSyncMessage`, broadcasts its doc and awareness updates.
 */
class StockPeer {
  readonly outbox: Uint8Array[] = [];
  readonly awareness: awarenessProtocol.Awareness;
  permissionDenied: string | undefined;

  constructor(readonly doc: Y.Doc) {
    this.awareness = stockAwareness(doc);
    doc.on("update", (update: Uint8Array, origin: unknown) => {
      if (origin !== this) this.outbox.push(frame(MessageType.sync, (e) => syncProtocol.writeUpdate(e, update)));
    });
    this.awareness.on("update", ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }) => {
      const changed = [...added, ...updated, ...removed];
      this.outbox.push(frame(MessageType.awareness, (e) => encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed))));
    });
  }

  open(): void {
    this.outbox.push(frame(MessageType.sync, (e) => syncProtocol.writeSyncStep1(e, this.doc)));
    if (this.awareness.getLocalState() !== null) {
      this.outbox.push(
        frame(MessageType.awareness, (e) => encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(this.awareness, [this.doc.clientID]))),
      );
    }
  }

  receive(bytes: Uint8Array): void {
    const decoder = decoding.createDecoder(bytes);
    const reply = encoding.createEncoder();
    switch (decoding.readVarUint(decoder)) {
      case MessageType.sync:
        encoding.writeVarUint(reply, MessageType.sync);
        syncProtocol.readSyncMessage(decoder, reply, this.doc, this);
        if (encoding.length(reply) > 1) this.outbox.push(encoding.toUint8Array(reply));
        return;
      case MessageType.awareness:
        awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this);
        return;
      case MessageType.auth:
        authProtocol.readAuthMessage(decoder, this.doc, (_doc, reason) => {
          this.permissionDenied = reason;
        });
        return;
      case MessageType.queryAwareness:
        this.outbox.push(
          frame(MessageType.awareness, (e) =>
            encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()])),
          ),
        );
        return;
    }
  }
}

/** Delivers between one core and stock peers (by peer id) until both sides are quiet. */
function pump(core: SyncCore, stocks: ReadonlyMap<PeerId, StockPeer>): void {
  for (let round = 0; round < 100; round++) {
    let moved = 0;
    for (const { to, bytes } of core.takeOutbox()) {
      moved++;
      stocks.get(to)?.receive(bytes);
    }
    for (const [id, stock] of stocks) {
      for (const bytes of stock.outbox.splice(0)) {
        moved++;
        expect(core.receive(id, bytes)).toBeUndefined();
      }
    }
    if (moved === 0) return;
  }
  throw new Error("never quiet");
}

const STOCK = asPeerId("stock");

describe("messages we write, y-protocols reads", () => {
  it("answers our step 1 with a step 2 we can apply", () => {
    const ours = docWithText(1, "");
    const theirs = docWithText(2, "theirs");
    const decoder = decoding.createDecoder(encodeMessage({ type: "sync-step1", stateVector: Y.encodeStateVector(ours) }));
    expect(decoding.readVarUint(decoder)).toBe(MessageType.sync);
    const reply = encoding.createEncoder();
    encoding.writeVarUint(reply, MessageType.sync);
    expect(syncProtocol.readSyncMessage(decoder, reply, theirs, null)).toBe(syncProtocol.messageYjsSyncStep1);
    const answer = decodeMessage(encoding.toUint8Array(reply));
    expect(answer.type).toBe("sync-step2");
    Y.applyUpdate(ours, (answer as { update: Uint8Array }).update);
    expect(ours.getText("t").toString()).toBe("theirs");
  });

  it.each(["sync-step2", "sync-update"] as const)("applies our %s", (type) => {
    const ours = docWithText(1, "ours");
    const theirs = docWithText(2, "");
    const decoder = decoding.createDecoder(encodeMessage({ type, update: Y.encodeStateAsUpdate(ours) }));
    decoding.readVarUint(decoder);
    syncProtocol.readSyncMessage(decoder, encoding.createEncoder(), theirs, null);
    expect(theirs.getText("t").toString()).toBe("ours");
  });

  it("applies our awareness update", () => {
    const awareness = stockAwareness(new Y.Doc());
    const decoder = decoding.createDecoder(
      encodeMessage({
        type: "awareness",
        entries: [
          { clientId: 42, clock: 3, state: { user: "ann" } },
          { clientId: 43, clock: 1, state: null },
        ],
      }),
    );
    expect(decoding.readVarUint(decoder)).toBe(MessageType.awareness);
    awarenessProtocol.applyAwarenessUpdate(awareness, decoding.readVarUint8Array(decoder), null);
    expect(awareness.getStates().get(42)).toEqual({ user: "ann" });
    expect(awareness.meta.get(42)?.clock).toBe(3);
    expect(awareness.getStates().has(43)).toBe(false);
  });

  it("reads our permission-denied message", () => {
    const decoder = decoding.createDecoder(encodeMessage({ type: "auth-denied", reason: "bad token" }));
    expect(decoding.readVarUint(decoder)).toBe(MessageType.auth);
    let reason: string | undefined;
    authProtocol.readAuthMessage(decoder, new Y.Doc(), (_doc, r) => {
      reason = r;
    });
    expect(reason).toBe("bad token");
  });
});

describe("messages y-protocols writes, we read", () => {
  const doc = docWithText(7, "hello");

  it("decodes step 1, step 2 and update", () => {
    expect(decodeMessage(frame(MessageType.sync, (e) => syncProtocol.writeSyncStep1(e, doc)))).toEqual({
      type: "sync-step1",
      stateVector: Y.encodeStateVector(doc),
    });
    expect(decodeMessage(frame(MessageType.sync, (e) => syncProtocol.writeSyncStep2(e, doc)))).toEqual({
      type: "sync-step2",
      update: Y.encodeStateAsUpdate(doc),
    });
    const update = Y.encodeStateAsUpdate(doc);
    expect(decodeMessage(frame(MessageType.sync, (e) => syncProtocol.writeUpdate(e, update)))).toEqual({ type: "sync-update", update });
  });

  it("decodes an awareness update", () => {
    const awareness = stockAwareness(doc);
    awareness.setLocalStateField("cursor", { index: 3 });
    const wire = frame(MessageType.awareness, (e) => encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID])));
    expect(decodeMessage(wire)).toEqual({ type: "awareness", entries: [{ clientId: 7, clock: 1, state: { cursor: { index: 3 } } }] });
  });

  it("decodes permission denied and query-awareness", () => {
    expect(decodeMessage(frame(MessageType.auth, (e) => authProtocol.writePermissionDenied(e, "nope")))).toEqual({ type: "auth-denied", reason: "nope" });
    expect(decodeMessage(frame(MessageType.queryAwareness, () => {}))).toEqual({ type: "query-awareness" });
  });
});

describe("SyncCore with y-protocols-driven peers", () => {
  it("syncs existing content both ways, then live edits and presence both ways", () => {
    const core = new SyncCore(docWithText(1, "ours "));
    const stock = new StockPeer(docWithText(2, "theirs "));
    core.peerUp(STOCK);
    stock.open();
    pump(core, new Map([[STOCK, stock]]));
    expect(core.doc.getText("t").toString()).toBe(stock.doc.getText("t").toString());
    expect(core.doc.getText("t").length).toBe("ours theirs ".length);

    stock.doc.getMap("m").set("from", "stock");
    core.doc.getMap("m").set("also", "core");
    stock.awareness.setLocalStateField("user", "stock");
    core.setLocalAwareness({ user: "concord" });
    pump(core, new Map([[STOCK, stock]]));
    for (const doc of [core.doc, stock.doc]) expect(doc.getMap("m").toJSON()).toEqual({ from: "stock", also: "core" });
    expect(Y.encodeStateVector(core.doc)).toEqual(Y.encodeStateVector(stock.doc));
    expect(core.awareness.states().get(2)).toEqual({ user: "stock" });
    expect(stock.awareness.getStates().get(1)).toEqual({ user: "concord" });

    core.peerDown(STOCK);
    expect(core.awareness.states().has(2)).toBe(false);
  });

  it("syncs both ways when only the stock peer starts (the core answers step 1 with its own step 1)", () => {
    const core = new SyncCore(docWithText(1, "ours"));
    const stock = new StockPeer(docWithText(2, "theirs"));
    stock.open();
    pump(core, new Map([[STOCK, stock]]));
    expect(core.doc.getText("t").toString()).toBe(stock.doc.getText("t").toString());
    expect(core.doc.getText("t").length).toBe("ourstheirs".length);
  });

  it("relays between two stock clients like a y-websocket server", () => {
    const server = new SyncCore(docWithText(1, ""));
    const one = asPeerId("one");
    const two = asPeerId("two");
    const stocks = new Map([
      [one, new StockPeer(docWithText(2, "first "))],
      [two, new StockPeer(docWithText(3, "second "))],
    ]);
    for (const [id, stock] of stocks) {
      server.peerUp(id);
      stock.open();
    }
    pump(server, stocks);
    const [a, b] = [...stocks.values()] as [StockPeer, StockPeer];
    expect(a.doc.getText("t").toString()).toBe(b.doc.getText("t").toString());
    expect(a.doc.getText("t").length).toBe("first second ".length);

    a.doc.getText("t").insert(0, "live ");
    a.awareness.setLocalStateField("typing", true);
    pump(server, stocks);
    expect(b.doc.getText("t").toString()).toBe(a.doc.getText("t").toString());
    expect(b.awareness.getStates().get(2)).toEqual({ typing: true });

    server.peerDown(one);
    pump(server, stocks);
    expect(b.awareness.getStates().has(2)).toBe(false);
  });

  it("answers a stock peer's query-awareness, and the stock peer answers ours", () => {
    const core = new SyncCore(new Y.Doc());
    const stock = new StockPeer(docWithText(2, ""));
    core.setLocalAwareness({ here: true });
    core.peerUp(STOCK);
    stock.awareness.setLocalStateField("name", "s");
    stock.outbox.splice(0);
    core.takeOutbox();
    expect(core.receive(STOCK, frame(MessageType.queryAwareness, () => {}))).toBeUndefined();
    for (const { bytes } of core.takeOutbox()) stock.receive(bytes);
    expect(stock.awareness.getStates().get(core.doc.clientID)).toEqual({ here: true });
    stock.receive(encodeMessage({ type: "query-awareness" }));
    pump(core, new Map([[STOCK, stock]]));
    expect(core.awareness.states().get(2)).toEqual({ name: "s" });
  });
});
