/**
 * Fixtures of the sync server tests: servers on 127.0.0.1 port 0 whose log can be waited on, stock
 * y-websocket clients, raw sockets, and a persistence that records and can hold its operations.
 * Everything is undone by {@link runCleanups}. Waits are on events, bounded by {@link WAIT_MS}.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { WebSocket } from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { ConcordError } from "../../src/errors.js";
import type { DocId } from "../../src/ids.js";
import type { LogEntry } from "../../src/ops/log.js";
import { startServer, type ServerOptions, type SyncServer } from "../../src/server/server.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { DocStorage, Persistence } from "../../src/storage/storage.js";

/** How long any wait may take before it fails the test (never a sleep: waits end on events). */
export const WAIT_MS = 10_000;

const cleanups: Array<() => unknown> = [];

/** Registers `cleanup` to run after the test (newest first). */
export function onCleanup(cleanup: () => unknown): void {
  cleanups.push(cleanup);
}

/** Undoes what the fixtures set up, newest first. Call from `afterEach`. */
export async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "concord-server-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A server plus its log, which tests wait on. Asserts at cleanup that no handler ever threw. */
export interface Running {
  server: SyncServer;
  logs: LogEntry[];
  /** Resolves with the first entry (already logged or to come) matching `match`, counting from `from`. */
  logged(match: (e: LogEntry) => boolean, from?: number): Promise<LogEntry>;
}

export async function start(options: ServerOptions = {}): Promise<Running> {
  const logs: LogEntry[] = [];
  const waiters = new Set<() => void>();
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    persistence: options.dataDir ? undefined : memoryStorage(),
    ...options,
    onLog: (entry) => {
      logs.push(entry);
      for (const wake of [...waiters]) wake();
    },
  });
  let closed = false;
  const close = server.close.bind(server);
  server.close = () => {
    closed = true;
    return close();
  };
  cleanups.push(async () => {
    if (!closed) await server.close();
    expect(logs.filter((e) => e.event === "handler.error")).toEqual([]);
  });
  const logged = (match: (e: LogEntry) => boolean, from = 0): Promise<LogEntry> =>
    waitFor(
      `a log entry matching ${match.toString()}`,
      () => logs.slice(from).find(match),
      (wake) => {
        waiters.add(wake);
        return () => waiters.delete(wake);
      },
    );
  return { server, logs, logged };
}

/** Resolves with `check()` once it is truthy, re-checking whenever `subscribe`'s callback fires. */
export function waitFor<T>(what: string, check: () => T | undefined | false, subscribe: (wake: () => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let unsubscribe = (): void => undefined;
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`));
    }, WAIT_MS);
    const wake = (): void => {
      const value = check();
      if (value) {
        clearTimeout(timer);
        unsubscribe();
        resolve(value);
      }
    };
    unsubscribe = subscribe(wake);
    wake();
  });
}

/** `promise`, or a rejection naming `what` after {@link WAIT_MS}. */
export function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A stock y-websocket client on `room`. */
export interface Client {
  doc: Y.Doc;
  map: Y.Map<unknown>;
  provider: WebsocketProvider;
  /** Close codes the server sent this client, in order. */
  closeCodes: number[];
}

/** Options of {@link connect}: URL query parameters (`{ token }`), a WebSocket class (TLS options). */
export interface ConnectOptions {
  readonly params?: Record<string, string>;
  readonly WebSocket?: new (url: string | URL, protocols?: string | string[]) => WebSocket;
}

export function connect(server: SyncServer, room: string, options: ConnectOptions = {}): Client {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(server.url, encodeURIComponent(room), doc, {
    WebSocketPolyfill: (options.WebSocket ?? WebSocket) as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    ...(options.params ? { params: options.params } : {}),
  });
  const closeCodes: number[] = [];
  provider.on("connection-close", (event) => {
    if (event) closeCodes.push(event.code);
  });
  cleanups.push(() => {
    provider.destroy();
    doc.destroy();
  });
  return { doc, map: doc.getMap("concord"), provider, closeCodes };
}

export function synced(client: Client): Promise<true> {
  return waitFor(
    "the client to sync",
    () => client.provider.synced,
    (wake) => {
      client.provider.on("sync", wake);
      return () => client.provider.off("sync", wake);
    },
  );
}

/** Resolves once `check(doc)` holds, re-checking on every update of the doc. */
export function docState<T>(client: Client, what: string, check: (doc: Y.Doc) => T | undefined | false): Promise<T> {
  return waitFor(
    what,
    () => check(client.doc),
    (wake) => {
      client.doc.on("update", wake);
      return () => client.doc.off("update", wake);
    },
  );
}

export function hasValue(client: Client, key: string, value: unknown): Promise<true> {
  return docState(client, `${key} = ${JSON.stringify(value)}`, () => JSON.stringify(client.map.get(key)) === JSON.stringify(value));
}

export function presenceOf(client: Client, clientId: number): unknown {
  return client.provider.awareness.getStates().get(clientId);
}

/** Resolves once `check` holds, re-checking on every awareness change the client sees. */
export function awarenessState(client: Client, what: string, check: () => boolean): Promise<true> {
  return waitFor(
    what,
    () => check(),
    (wake) => {
      client.provider.awareness.on("change", wake);
      return () => client.provider.awareness.off("change", wake);
    },
  );
}

/** A raw WebSocket on `path`, open. */
export async function rawSocket(server: SyncServer, path: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${server.url}${path}`);
  ws.on("error", () => undefined);
  cleanups.push(() => ws.terminate());
  const closed = within(
    `the server to close the socket to ${path}`,
    new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") }))),
  );
  closed.catch(() => undefined); // awaited by the test, or moot
  await within(
    `the socket to ${path} to open`,
    new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("close", () => reject(new Error(`socket to ${path} closed before opening`)));
    }),
  );
  return { ws, closed };
}

export async function httpGet(server: SyncServer, path: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`${server.url.replace(/^ws:/, "http:")}${path}`);
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

/** A persistence that records what happens to it and can hold opens and closes at a gate. */
export function recordingPersistence(inner: Persistence = memoryStorage()) {
  const events: string[] = [];
  const control = { failAppends: false };
  let openGate: Promise<void> | undefined;
  let closeGate: Promise<void> | undefined;
  let appendGate: { promise: Promise<void>; reached: () => void } | undefined;
  const persistence: Persistence = {
    name: "recording",
    async open(doc: DocId): Promise<DocStorage> {
      events.push(`open ${doc}`);
      await openGate;
      const storage = await inner.open(doc);
      events.push(`opened ${doc}`);
      return {
        get maxRecordBytes() {
          return storage.maxRecordBytes;
        },
        load: () => storage.load(),
        append(record) {
          if (control.failAppends) return Promise.reject(new ConcordError("Io", "simulated disk failure"));
          if (appendGate === undefined) return storage.append(record);
          appendGate.reached();
          return appendGate.promise.then(() => storage.append(record));
        },
        compact: (snapshot) => storage.compact(snapshot),
        shouldCompact: () => storage.shouldCompact(),
        stats: () => storage.stats(),
        flush: () => storage.flush(),
        async close() {
          events.push(`close ${doc}`);
          await closeGate;
          await storage.close();
          events.push(`closed ${doc}`);
        },
      };
    },
  };
  const gate = (): { promise: Promise<void>; release: () => void } => {
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    return { promise, release };
  };
  return {
    persistence,
    events,
    control,
    /** Holds every open until the returned function is called (at the latest, at cleanup). */
    holdOpens() {
      const g = gate();
      openGate = g.promise;
      cleanups.push(g.release);
      return () => {
        openGate = undefined;
        g.release();
      };
    },
    /** Holds every append until `release` is called (at the latest, at cleanup); `reached` resolves at the first one. */
    holdAppends() {
      const g = gate();
      let reached!: () => void;
      const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
      appendGate = { promise: g.promise, reached };
      cleanups.push(g.release);
      return {
        reached: reachedPromise,
        release: () => {
          appendGate = undefined;
          g.release();
        },
      };
    },
    /** Holds every close until the returned function is called (at the latest, at cleanup). */
    holdCloses() {
      const g = gate();
      closeGate = g.promise;
      cleanups.push(g.release);
      return () => {
        closeGate = undefined;
        g.release();
      };
    },
  };
}

/**
 * A self-signed certificate for CN=localhost (valid one day), made by openssl in `dir` as `c.pem`
 * and `k.pem`. Throws if openssl fails: TLS tests must never be skipped.
 */
export function selfSignedCert(dir: string): { cert: string; key: string; certFile: string; keyFile: string } {
  const keyFile = join(dir, "k.pem");
  const certFile = join(dir, "c.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", keyFile, "-out", certFile], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile, keyFile };
}
