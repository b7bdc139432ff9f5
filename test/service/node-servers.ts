/**
 * Node servers for the tests of test/service/: a real {@link startNodeServer} on loopback (port 0,
 * a fresh data folder, fast timers) whose log entries can be awaited, and client sockets to it.
 * Everything started here is closed by `runCleanups` of the reliability harness.
 */
import type { LogEntry } from "../../src/ops/log.js";
import { startNodeServer, type PrimaryNodeServerOptions as NodeServerOptions } from "../../src/node-servers.js";
import type { PrimaryEngine } from "../../src/primary/primary-engine.js";
import type { NodeServer as ServedNode } from "../../src/service/node-server.js";

type NodeServer = ServedNode<PrimaryEngine>;
import type { ReadOptions } from "../../src/service/protocol.js";
import { onCleanup, tempDir, within } from "../reliability/harness.js";
import { connectClient, expectAnswer, type NodeClient } from "./node-client.js";

/** The document the tests read and write. */
const DOC = "d";

/** A read with no freshness demands. */
export const READ: ReadOptions = { consistency: "local", maxStalenessMs: null, after: null, timeoutMs: 5_000 };
/** Fast timers: a replica is heard every 20 ms and stale after 2 s. */
export const FAST = { primaryOptions: { heartbeatMs: 20, maxLagMs: 2_000 }, replicaOptions: { ackMs: 20, helloMs: 100 } } as const;

/** A node's log entries, with a wait for one to come. */
export class Logs {
  readonly entries: LogEntry[] = [];
  readonly #waits: { match: (e: LogEntry) => boolean; done: (e: LogEntry) => void }[] = [];
  readonly sink = (e: LogEntry): void => {
    this.entries.push(e);
    for (const w of [...this.#waits]) {
      if (w.match(e)) {
        this.#waits.splice(this.#waits.indexOf(w), 1);
        w.done(e);
      }
    }
  };

  event(event: string): Promise<LogEntry> {
    const seen = this.entries.find((e) => e.event === event);
    if (seen !== undefined) return Promise.resolve(seen);
    return within(`log event ${event}`, new Promise((done) => this.#waits.push({ match: (e) => e.event === event, done })));
  }

  /** Resolves once `event` was logged `n` times in all. */
  logged(event: string, n: number): Promise<void> {
    const match = (e: LogEntry): boolean => e.event === event && this.count(event) >= n;
    if (this.count(event) >= n) return Promise.resolve();
    return within(`log event ${event} #${n}`, new Promise((done) => this.#waits.push({ match, done: () => done() })));
  }

  count(event: string): number {
    return this.entries.filter((e) => e.event === event).length;
  }

  events(): string[] {
    return this.entries.map((e) => e.event);
  }
}

export interface Started {
  readonly server: NodeServer;
  readonly logs: Logs;
  readonly dataDir: string;
}

/** Starts node `id` (fast timers, a fresh folder unless `o.dataDir`); closed by `runCleanups`. */
export async function start(id: string, role: NodeServerOptions["role"], o: Partial<NodeServerOptions> = {}): Promise<Started> {
  const logs = new Logs();
  const dataDir = o.dataDir ?? tempDir("concord-node-");
  const server = await startNodeServer({ id, port: 0, dataDir, role, log: logs.sink, ...FAST, ...o });
  onCleanup(() => server.close());
  return { server, logs, dataDir };
}

/** A client socket to `server`; terminated by `runCleanups`. */
export async function client(server: NodeServer): Promise<NodeClient> {
  const c = await connectClient(server.url);
  onCleanup(() => c.ws.terminate());
  return c;
}

/** A primary p1 and its replica r1, with r1 known to follow (it applied a first write). */
export async function pair(o: Partial<NodeServerOptions> = {}): Promise<{ p: Started; r: Started; cp: NodeClient; cr: NodeClient; subscription: number }> {
  const p = await start("p1", "primary", o);
  const r = await start("r1", { replicaOf: { id: "p1", url: p.server.url } }, o);
  const [cp, cr] = [await client(p.server), await client(r.server)];
  const subscription = expectAnswer(await cr.request({ type: "subscribe", id: 1, doc: DOC, prefix: "", from: null }), "subscribed").subscription;
  const first = expectAnswer(await cp.request({ type: "write", id: 1, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: "first", value: 0 }], durability: { level: "local" } }), "written");
  await cr.pushedAt(subscription, first.position);
  return { p, r, cp, cr, subscription };
}
