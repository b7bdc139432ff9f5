/**
 * Fixtures of the primary-mode client tests (test/primary/client*.test.ts): real node servers in
 * process on loopback with real files and fast timers, whose log entries can be awaited; clients
 * opened with fast reconnects; a WebSocket constructor whose sockets a test can cut (and keep cut)
 * while the nodes go on; a subscriber that records what it heard. Every wait is on an event,
 * bounded by a timeout (`within`/`waitFor` of the reliability harness): no sleeps. Everything is
 * closed by `runCleanups`.
 */
import { isDeepStrictEqual } from "node:util";
import { WebSocket, WebSocketServer } from "ws";
import type { Json } from "../../src/json.js";
import { docKey, docView } from "../../src/kv/doc-keys.js";
import type { KvOp, KvWrite } from "../../src/kv/ops.js";
import type { ReplicationNode } from "../../src/primary/replication-node.js";
import type { WebSocketConstructorLike, WebSocketLike } from "../../src/net/websocket-client.js";
import { openStore } from "../../src/open-store.js";
import type { PrimaryOptions, PrimaryStore } from "../../src/primary/primary-client.js";
import type { LogEntry } from "../../src/ops/log.js";
import { startNodeServer, type PrimaryNodeServerOptions as NodeServerOptions } from "../../src/node-servers.js";
import type { PrimaryEngine } from "../../src/primary/primary-engine.js";
import type { NodeServer as ServedNode } from "../../src/service/node-server.js";

type NodeServer = ServedNode<PrimaryEngine>;
import type { Request, Response } from "../../src/service/protocol.js";
import { decodeRequest, encodeResponse } from "../../src/service/protocol-codec.js";
import type { ChangeEvent } from "../../src/store.js";
import { onCleanup, tempDir, waitFor, within } from "../reliability/harness.js";

/** Fast timers: a replica is heard every 20 ms; peer links retry within 50 ms. */
export const FAST = {
  primaryOptions: { heartbeatMs: 20, maxLagMs: 2_000 },
  replicaOptions: { ackMs: 20, helloMs: 100 },
  peerBackoff: { initialMs: 10, maxMs: 50 },
} as const;
export const CLIENT_BACKOFF = { initialMs: 10, maxMs: 50 } as const;

export interface Started {
  readonly server: NodeServer;
  readonly url: string;
  readonly dataDir: string;
  /** Resolves with the first log entry of `event` (seen already, or to come). */
  event(event: string): Promise<LogEntry>;
}

/** Starts node `id` on loopback (a fresh folder unless `o.dataDir`); closed by `runCleanups`. */
export async function start(id: string, role: NodeServerOptions["role"], o: Partial<NodeServerOptions> = {}): Promise<Started> {
  const entries: LogEntry[] = [];
  const waits: { event: string; done: (e: LogEntry) => void }[] = [];
  const sink = (e: LogEntry): void => {
    entries.push(e);
    for (const w of waits.filter((w) => w.event === e.event)) {
      waits.splice(waits.indexOf(w), 1);
      w.done(e);
    }
  };
  const dataDir = o.dataDir ?? tempDir("concord-client-");
  const server = await startNodeServer({ id, port: 0, dataDir, role, log: sink, ...FAST, ...o });
  onCleanup(() => server.close());
  return {
    server,
    url: server.url,
    dataDir,
    event: (event) => {
      const seen = entries.find((e) => e.event === event);
      if (seen !== undefined) return Promise.resolve(seen);
      return within(`log event ${event} of ${id}`, new Promise((done) => waits.push({ event, done })));
    },
  };
}

/** The document the stores of {@link open} use. */
export const DOC = "d";

/** `op` on the keys of {@link DOC} as a node's state holds them (for writes made on a node directly). */
export function inDoc(op: KvOp): KvOp {
  const write = (w: KvWrite): KvWrite => ({ ...w, key: docKey(DOC, w.key) });
  return op.kind === "batch" ? { kind: "batch", ops: op.ops.map(write) } : write(op);
}

/** The entries of {@link DOC} under `prefix` in a node's state. */
export function docEntries(node: ReplicationNode, prefix = ""): Array<[string, Json]> {
  return docView(() => node.state, DOC).entries(prefix);
}

/** A primary-mode store with fast reconnects (on {@link DOC} unless `doc` says otherwise); closed by `runCleanups`. */
export async function open(o: Omit<PrimaryOptions, "mode" | "doc"> & { readonly doc?: string }): Promise<PrimaryStore> {
  const store = await openStore({ mode: "primary", doc: DOC, backoff: CLIENT_BACKOFF, ...o });
  onCleanup(() => store.close());
  return store;
}

export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

/** Nothing listens on port 1 of loopback: a socket made while cut fails at once. */
const NOWHERE = "ws://127.0.0.1:1/client";

/** A WebSocket constructor whose sockets can be cut or muted, per node: see {@link cuttableSockets}. */
export interface CuttableSockets {
  readonly WebSocket: WebSocketConstructorLike;
  /** Terminates the sockets to `node` (a base URL; default every node); until {@link restore}, new ones fail to connect. */
  cut(node?: string): void;
  /** Undoes {@link cut} and {@link mute} (of `node`, default every node). */
  restore(node?: string): void;
  /** Drops every frame that arrives from `node` from now on, as a network losing them would (the socket stays open). */
  mute(node: string): void;
}

/** Client sockets (of the `ws` package) that a test can cut or mute while the nodes go on serving. */
export function cuttableSockets(): CuttableSockets {
  const ALL = "*";
  const cut = new Set<string>();
  const muted = new Set<string>();
  const live = new Map<WebSocket, string>();
  const isCut = (node: string): boolean => cut.has(ALL) || cut.has(node);
  function CuttableWebSocket(url: string): WebSocketLike {
    const node = url.replace(/\/client$/, "");
    const ws = new WebSocket(isCut(node) ? NOWHERE : url);
    live.set(ws, node);
    const like: WebSocketLike = {
      get binaryType() {
        return ws.binaryType;
      },
      set binaryType(t: string) {
        ws.binaryType = t as WebSocket["binaryType"];
      },
      get readyState() {
        return ws.readyState;
      },
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
    };
    ws.onopen = (e) => like.onopen?.(e);
    ws.onmessage = (e) => {
      if (!muted.has(node)) like.onmessage?.(e);
    };
    ws.onerror = (e) => like.onerror?.(e);
    ws.onclose = (e) => {
      live.delete(ws);
      like.onclose?.(e);
    };
    return like;
  }
  onCleanup(() => {
    for (const ws of live.keys()) ws.terminate();
  });
  return {
    WebSocket: CuttableWebSocket as unknown as WebSocketConstructorLike,
    cut: (node = ALL) => {
      cut.add(node);
      for (const [ws, at] of live) if (node === ALL || at === node) ws.terminate();
    },
    restore: (node = ALL) => {
      if (node === ALL) {
        cut.clear();
        muted.clear();
      }
      cut.delete(node);
      muted.delete(node);
    },
    mute: (node) => void muted.add(node),
  };
}

/** A subscriber that rebuilds the map it was told of and notes every change that changed nothing in it (a duplicate). */
export class SubscriberView {
  readonly map = new Map<string, Json>();
  readonly events: ChangeEvent[] = [];
  /** Changes that set a key to the value it had already (or deleted an absent one). */
  readonly noOps: { key: string; value: Json | undefined }[] = [];
  readonly #wakes = new Set<() => void>();

  readonly listener = (e: ChangeEvent): void => {
    this.events.push(e);
    for (const c of e.changes) {
      if (isDeepStrictEqual(this.map.get(c.key), c.value)) this.noOps.push(c);
      if (c.value === undefined) this.map.delete(c.key);
      else this.map.set(c.key, c.value);
    }
    for (const wake of [...this.#wakes]) wake();
  };

  /** The map as sorted entries, as `entries()` returns them. */
  entries(): [string, Json][] {
    return [...this.map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Resolves once `check()` holds, re-checked after every event heard. */
  until(what: string | (() => string), check: () => boolean): Promise<true> {
    return waitFor(what, () => check() || undefined, (wake) => {
      this.#wakes.add(wake);
      return () => this.#wakes.delete(wake);
    });
  }
}

/** A node whose answers a test scripts: see {@link scriptedNode}. */
export interface ScriptedNode {
  readonly url: string;
  /** Terminates every client socket (the client reconnects with its backoff). */
  drop(): void;
}

/**
 * A fake node on a real loopback socket that answers as `script` says, for orderings a real node
 * makes rare (a push between two answers). `script` hears every request decoded, with the number
 * of its connection (1 for the first), and sends responses with `send`, which encodes them; frames
 * sent in one call of `script` leave back to back. A `hello` is answered with a welcome at position 0 without asking `script`.
 */
export async function scriptedNode(script: (req: Request, send: (r: Response) => void, connection: number) => void): Promise<ScriptedNode> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  let connections = 0;
  server.on("connection", (ws) => {
    const connection = ++connections;
    ws.on("message", (data: Buffer) => {
      const req = decodeRequest(data);
      const send = (r: Response): void => ws.send(encodeResponse(r));
      // Every connection opens with a hello: answered here, so that scripts need not.
      if (req.type === "hello") send({ type: "welcome", id: req.id, node: "scripted", position: { epoch: 0, lsn: 0 } });
      else script(req, send, connection);
    });
  });
  const drop = (): void => {
    for (const ws of server.clients) ws.terminate();
  };
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        drop();
        server.close(() => resolve());
      }),
  );
  return { url: `ws://127.0.0.1:${(server.address() as { port: number }).port}`, drop };
}
