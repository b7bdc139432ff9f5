/**
 * A rogue peer for the bad-input tests of the node server: a real WebSocket to a node's `/peer`
 * endpoint that says the mesh hello under any id it likes (the hello names a peer, it does not
 * prove it), then sends what it wants: replication messages encoded with the real codec, however
 * much they lie, or raw bytes. What the node sends back is decoded and can be awaited. No sleeps:
 * every wait is on a frame or a close, bounded by `within`.
 */
import { WebSocket } from "ws";
import { asPeerId } from "../../src/ids.js";
import { encodePeerHello } from "../../src/net/websocket-mesh.js";
import { decodeReplMessage, encodeReplMessage } from "../../src/primary/replication/codec.js";
import type { ReplMessage } from "../../src/primary/replication/messages.js";
import { onCleanup, within } from "../reliability/harness.js";

export interface RoguePeer {
  readonly ws: WebSocket;
  /** Every replication message the node sent this peer, in order. */
  readonly received: ReplMessage[];
  /** Encodes `m` with the real codec and sends it as one frame. */
  send(m: ReplMessage): void;
  sendRaw(bytes: Uint8Array): void;
  /** Resolves with the first message from the node that `match` accepts (received so far, or later). */
  until<M extends ReplMessage>(what: string, match: (m: ReplMessage) => m is M): Promise<M>;
  until(what: string, match: (m: ReplMessage) => boolean): Promise<ReplMessage>;
  /** Like {@link until}, among the messages received from now on only. */
  next<M extends ReplMessage>(what: string, match: (m: ReplMessage) => m is M): Promise<M>;
  next(what: string, match: (m: ReplMessage) => boolean): Promise<ReplMessage>;
  /** The close code and reason, once the node closed the link. */
  readonly closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/**
 * Opens `<url>/peer` and, unless `as` is null, says the mesh hello as peer `as`. Resolves once the
 * socket is open and the hello sent. Terminated by `runCleanups`.
 */
export async function connectRogue(url: string, as: string | null): Promise<RoguePeer> {
  const ws = new WebSocket(`${url}/peer`);
  ws.binaryType = "nodebuffer";
  onCleanup(() => ws.terminate());
  const received: ReplMessage[] = [];
  const waits: { match: (m: ReplMessage) => boolean; done: (m: ReplMessage) => void }[] = [];
  ws.on("message", (data: Buffer) => {
    if (data.length === 0) return; // a keepalive of the node's peer mesh (net/websocket-mesh.ts)
    const m = decodeReplMessage(data);
    received.push(m);
    for (const w of [...waits]) {
      if (w.match(m)) {
        waits.splice(waits.indexOf(w), 1);
        w.done(m);
      }
    }
  });
  ws.on("error", () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") })));
  await within(`a peer connection to ${url}`, new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  }));
  if (as !== null) ws.send(encodePeerHello(asPeerId(as)));
  const next = (what: string, match: (m: ReplMessage) => boolean): Promise<ReplMessage> =>
    within(what, new Promise<ReplMessage>((done) => waits.push({ match, done })));
  const until = (what: string, match: (m: ReplMessage) => boolean): Promise<ReplMessage> => {
    const seen = received.find(match);
    return seen !== undefined ? Promise.resolve(seen) : next(what, match);
  };
  return {
    ws,
    received,
    send: (m) => ws.send(encodeReplMessage(m)),
    sendRaw: (bytes) => ws.send(bytes),
    until: until as RoguePeer["until"],
    next: next as RoguePeer["next"],
    closed,
    async close() {
      ws.close();
      await within("the rogue peer's link to close", closed);
    },
  };
}
