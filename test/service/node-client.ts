/**
 * A raw client of a node's `/client` endpoint for the node server and `concord node` tests: a real
 * WebSocket, requests encoded and responses decoded with the protocol codec, and waits that
 * resolve on the answer (or push) itself, bounded by a timeout (`within` of the reliability
 * harness). No sleeps.
 */
import { WebSocket } from "ws";
import type { Request, Response, WirePosition } from "../../src/service/protocol.js";
import { decodeResponse, encodeRequest } from "../../src/service/protocol-codec.js";
import { within } from "../reliability/harness.js";

type Changes = Extract<Response, { type: "changes" }>;

export interface NodeClient {
  readonly ws: WebSocket;
  /** Every response received, in order. */
  readonly received: Response[];
  /** Sends `req` and resolves with its answer (the response with its id). */
  request(req: Request): Promise<Response>;
  /** Hears every response from now on. */
  onResponse(listener: (r: Response) => void): void;
  /** Sends raw bytes as one binary frame. */
  sendRaw(bytes: Uint8Array): void;
  /** Resolves with the first response `match` accepts (among those received so far, or later). */
  until<R extends Response>(what: string, match: (r: Response) => r is R): Promise<R>;
  until(what: string, match: (r: Response) => boolean): Promise<Response>;
  /** Resolves once a push of `subscription` reached `position` (its epoch and LSN at least). */
  pushedAt(subscription: number, position: WirePosition): Promise<Changes>;
  /** The close code and reason, once the server closed the socket. */
  readonly closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Connects to `<url>/client` of a node and resolves once the socket is open. */
export async function connectClient(url: string): Promise<NodeClient> {
  const ws = new WebSocket(`${url}/client`);
  ws.binaryType = "nodebuffer";
  const received: Response[] = [];
  const listeners: ((r: Response) => void)[] = [];
  const waits: { match: (r: Response) => boolean; done: (r: Response) => void }[] = [];
  ws.on("message", (data: Buffer) => {
    const r = decodeResponse(data);
    received.push(r);
    for (const l of listeners) l(r);
    for (const w of [...waits]) {
      if (w.match(r)) {
        waits.splice(waits.indexOf(w), 1);
        w.done(r);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") })));
  ws.on("error", () => undefined);
  await within(`a client connection to ${url}`, new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  }));
  const until = (what: string, match: (r: Response) => boolean): Promise<Response> => {
    const seen = received.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return within(what, new Promise<Response>((done) => waits.push({ match, done })));
  };
  return {
    ws,
    received,
    request(req) {
      const answer = until(`the answer to ${req.type} #${req.id}`, (r) => r.type !== "changes" && r.id === req.id);
      ws.send(encodeRequest(req));
      return answer;
    },
    onResponse: (listener) => listeners.push(listener),
    sendRaw: (bytes) => ws.send(bytes),
    until: until as NodeClient["until"],
    pushedAt: (subscription, position) =>
      until(
        `changes of subscription ${subscription} at ${JSON.stringify(position)}`,
        (r) => r.type === "changes" && r.subscription === subscription && r.position.epoch >= position.epoch && r.position.lsn >= position.lsn,
      ) as Promise<Changes>,
    closed,
    close: () => ws.close(),
  };
}

/** The answer when it is of `type`; throws, showing it, otherwise. */
export function expectAnswer<T extends Response["type"]>(r: Response, type: T): Extract<Response, { type: T }> {
  if (r.type !== type) throw new Error(`expected a ${type} answer, got ${JSON.stringify(r)}`);
  return r as Extract<Response, { type: T }>;
}
