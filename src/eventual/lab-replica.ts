/**
 * One `eventual`-mode replica as a process, for the lab's runs on real processes (`concord lab
 * --real`): the app that embeds a store, here an eventual store on files (real fsync) that syncs
 * with a sync server (`concord serve`) over a WebSocket. The lab's clients of this replica are its
 * app's users: they send it requests as JSON lines on stdin and read the answers on stdout, so a
 * SIGKILL takes them down with it (what it had not fsynced is lost), and a SIGSTOP freezes them.
 *
 * Usage: node dist/eventual/lab-replica.js '{"id":"n1","url":"ws://127.0.0.1:4321","dataDir":"/tmp/x","doc":"d"}'
 * Prints `concord lab replica: <id> ready` once its store is open. Requests, one JSON per line:
 * `{"n":1,"op":"get","key":"k"}` answers `{"n":1,"ok":true,"value":"v"}` (null when absent);
 * `{"n":2,"op":"set","key":"k","value":"v"}` answers once the write is durable here, with the Yjs
 * item id it made (`client`, `clock`); `{"n":3,"op":"observe"}` answers the replica's state
 * (`state`: [key, value] pairs) and its state vector (`sv`: [client, clock] pairs). A failure
 * answers `{"n":..,"ok":false,"code":..,"message":..}`. Never started by anything but the lab.
 */
import { createInterface } from "node:readline";
import * as Y from "yjs";
import { isConcordError } from "../errors.js";
import { openStore } from "../open-store.js";
import { fileStorage } from "../storage/file-storage.js";

interface Args {
  readonly id: string;
  readonly url: string;
  readonly dataDir: string;
  readonly doc: string;
}

type Request = { readonly n: number } & ({ readonly op: "get"; readonly key: string } | { readonly op: "set"; readonly key: string; readonly value: string } | { readonly op: "observe" });

const a = JSON.parse(process.argv[2] ?? "") as Args;
const store = await openStore({
  mode: "eventual",
  doc: a.doc,
  replicaId: a.id,
  persistence: fileStorage(a.dataDir),
  // Back soon after a heal: the lab measures convergence, not the default's patience (10 s at most).
  sync: { url: a.url, backoff: { initialMs: 50, maxMs: 1_000 } },
  onError: () => undefined,
});
const doc = store.ydoc;
const answer = (body: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(body)}\n`);
const text = (v: unknown): string | null => (v === undefined ? null : typeof v === "string" ? v : JSON.stringify(v));

async function serve(r: Request): Promise<Record<string, unknown>> {
  switch (r.op) {
    case "get":
      return { value: text(store.getLocal(r.key)) };
    case "set": {
      const id = { client: doc.clientID, clock: Y.getState(doc.store, doc.clientID) };
      await store.set(r.key, r.value);
      return id;
    }
    case "observe":
      return { state: store.entriesLocal().map(([k, v]) => [k, text(v)]), sv: [...Y.decodeStateVector(Y.encodeStateVector(doc))] };
  }
}

createInterface({ input: process.stdin }).on("line", (line) => {
  let r: Request;
  try {
    r = JSON.parse(line) as Request;
  } catch {
    return answer({ n: -1, ok: false, code: "InvalidArgument", message: `not a JSON request: ${line.slice(0, 80)}` });
  }
  serve(r).then(
    (body) => answer({ n: r.n, ok: true, ...body }),
    (e: unknown) => answer({ n: r.n, ok: false, code: isConcordError(e) ? e.code : "Internal", message: e instanceof Error ? e.message : String(e) }),
  );
});
process.on("SIGTERM", () => void store.close().then(() => process.exit(0)));
process.stdout.write(`concord lab replica: ${a.id} ready\n`);
