/**
 * The browser storage: documents in one IndexedDB object store, through `idb-keyval`.
 *
 * Keys (arrays, which IndexedDB orders element by element, numbers before strings before arrays):
 * - `[doc, "snap"]` → the snapshot bytes;
 * - `[doc, "log", seq]` → one record, `seq` a non-negative integer increasing in append order.
 * All keys of `doc` lie in `[[doc], [doc, []]]`, so one key range reads a whole document.
 */
import { promisifyRequest, type UseStore } from "idb-keyval";
import { ConcordError } from "../errors.js";
import type { DocId } from "../ids.js";
import { openDocLog } from "./doc-log.js";
import { checkDocId, resolveLogLimits, type LogLimitOptions } from "./log-limits.js";
import type { DocStorage, Persistence, StoredLog } from "./storage.js";

/** Options of {@link indexedDbStorage}. */
export interface IndexedDbStorageOptions extends LogLimitOptions {
  /** Database name. Default `"concord"`. The database MUST be used by Concord only. */
  dbName?: string;
  /**
   * Object store name. Default `"docs"`. Several stores may share one database: the first `open`
   * of a store the database lacks upgrades it (version + 1) to create the store, which waits until
   * every other connection to the database has closed (Concord's close on `versionchange`).
   */
  storeName?: string;
}

/**
 * Documents in IndexedDB. An append, flush or compaction resolves when its transaction has
 * completed (`complete` event). Appends made in the same synchronous run, or while a
 * transaction is in flight, share the next transaction; one transaction runs at a time, so a
 * failed one can't be overtaken by a later one. A compaction writes the snapshot and deletes the
 * document's log keys in ONE transaction.
 *
 * Write transactions ask for `durability: "strict"`: the browser reports completion only after the
 * OS flushed them (its default, "relaxed" in Chromium, may acknowledge before, which a power cut
 * could undo). Not guaranteed: exclusivity across tabs (the caller's job).
 *
 * @throws ConcordError `InvalidArgument` for bad limits (synchronously). `open` rejects with `Io`
 *   when IndexedDB is missing or fails, and `Corrupt` (naming the key) when a stored value is
 *   not bytes or a key of the document has an unknown shape.
 */
export function indexedDbStorage(options: IndexedDbStorageOptions = {}): Persistence {
  const dbName = options.dbName ?? "concord";
  const storeName = options.storeName ?? "docs";
  const name = `indexeddb:${dbName}/${storeName}`;
  const limits = resolveLogLimits(options, `indexedDbStorage(${dbName}/${storeName})`);
  let store: UseStore | undefined;

  return {
    name,
    async open(doc: DocId): Promise<DocStorage> {
      checkDocId(doc, name);
      if (typeof indexedDB === "undefined" || typeof IDBKeyRange === "undefined") {
        throw new ConcordError("Io", `${name}: IndexedDB is not available here; use fileStorage or memoryStorage`);
      }
      store ??= durableStore(dbName, storeName);
      const db = store;
      const label = `${name}, doc ${JSON.stringify(doc)}`;
      const docKeys = IDBKeyRange.bound([doc], [doc, []]);
      const logKeys = IDBKeyRange.bound([doc, "log"], [doc, "log", []]);

      let lastSeq = -1;
      const read = async (): Promise<StoredLog> => {
        const [keys, values] = await transaction(label, "read", () =>
          db("readonly", (os) => Promise.all([promisifyRequest(os.getAllKeys(docKeys)), promisifyRequest(os.getAll(docKeys))])),
        );
        let snapshot: Uint8Array | undefined;
        const records: Uint8Array[] = [];
        keys.forEach((key, i) => {
          const where = { label, key };
          if (isSnapKey(key, doc)) {
            snapshot = bytesOf(values[i], where);
          } else if (isLogKey(key, doc)) {
            records.push(bytesOf(values[i], where));
            lastSeq = Math.max(lastSeq, key[2]);
          } else {
            throw corrupt(where, "is not a key this storage writes");
          }
        });
        return { snapshot, records };
      };
      const recovered = await read();
      let nextSeq = lastSeq + 1;

      return openDocLog({
        label,
        recovered,
        sink: {
          append: (batch) =>
            transaction(label, "append", () =>
              db("readwrite", (os) => {
                batch.forEach((record, i) => os.put(record, [doc, "log", nextSeq + i]));
                return promisifyRequest(os.transaction);
              }),
            ).then(() => {
              nextSeq += batch.length;
            }),
          compact: (snap) =>
            transaction(label, "compaction", () =>
              db("readwrite", (os) => {
                os.put(snap, [doc, "snap"]);
                os.delete(logKeys);
                return promisifyRequest(os.transaction);
              }),
            ),
          load: read,
          // The database connection is shared by every document of this storage.
          close: async () => undefined,
        },
        limits,
        schedule: "always",
      });
    },
  };
}

/**
 * idb-keyval's `createStore`, except that transactions are opened with `durability: "strict"`,
 * which `createStore` can't ask for (an ack of `local` means the write survives a power cut), and
 * that `storeName` is created in a database that already exists without it (see {@link connectWithStore}).
 *
 * One connection, opened on first use and reused. It is dropped, and the next call opens a new one,
 * when the browser closes it (`close` event, as Safari does), when the open fails, and on
 * `versionchange`: another connection (another Concord store on the same database, another tab)
 * wants to upgrade the database, so ours closes at once rather than block it. Transactions already
 * running on it complete first (IndexedDB's `close()` waits for them).
 */
function durableStore(dbName: string, storeName: string): UseStore {
  let connection: Promise<IDBDatabase> | undefined;
  const connect = (): Promise<IDBDatabase> => {
    if (connection) return connection;
    const opened = connectWithStore(dbName, storeName);
    connection = opened;
    const forget = (): void => {
      if (connection === opened) connection = undefined;
    };
    opened.then((db) => {
      db.onclose = forget;
      db.onversionchange = () => {
        db.close();
        forget();
      };
    }, forget);
    return opened;
  };
  return (mode, callback) => connect().then((db) => callback(db.transaction(storeName, mode, { durability: "strict" }).objectStore(storeName)));
}

/** How many times {@link connectWithStore} reopens before giving up: each retry means another connection upgraded meanwhile. */
const MAX_UPGRADE_ATTEMPTS = 10;

/**
 * Opens `dbName` (creating it if needed) with an object store `storeName`. A database created by
 * another Concord store (another `storeName`) lacks it: then this closes, reopens at
 * `db.version + 1` and creates the store in `onupgradeneeded`. Another connection may upgrade the
 * database meanwhile (to a version at least ours: `VersionError`, or without our store), so this
 * starts over, a bounded number of times.
 *
 * The upgrade waits while other connections to the database stay open (`blocked`): Concord's own
 * close on `versionchange`; a connection of other code that does not keeps it waiting.
 */
async function connectWithStore(dbName: string, storeName: string): Promise<IDBDatabase> {
  let version: number | undefined;
  for (let attempt = 1; ; attempt++) {
    const request = version === undefined ? indexedDB.open(dbName) : indexedDB.open(dbName, version);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(storeName)) db.createObjectStore(storeName);
    };
    let db: IDBDatabase;
    try {
      db = await promisifyRequest(request);
    } catch (e) {
      if (version === undefined || !isDomError(e, "VersionError") || attempt >= MAX_UPGRADE_ATTEMPTS) throw e;
      version = undefined;
      continue;
    }
    if (db.objectStoreNames.contains(storeName)) return db;
    db.close();
    if (attempt >= MAX_UPGRADE_ATTEMPTS) {
      throw new Error(`could not create the object store "${storeName}" in database "${dbName}": other connections kept upgrading it`);
    }
    version = db.version + 1;
  }
}

function isDomError(e: unknown, name: string): boolean {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === name;
}

type SnapKey = [string, "snap"];
type LogKey = [string, "log", number];

function isSnapKey(key: IDBValidKey, doc: string): key is SnapKey {
  return Array.isArray(key) && key.length === 2 && key[0] === doc && key[1] === "snap";
}

function isLogKey(key: IDBValidKey, doc: string): key is LogKey {
  return Array.isArray(key) && key.length === 3 && key[0] === doc && key[1] === "log" && Number.isSafeInteger(key[2]) && (key[2] as number) >= 0;
}

interface Where {
  readonly label: string;
  readonly key: IDBValidKey;
}

function bytesOf(value: unknown, where: Where): Uint8Array {
  // Tags, not instanceof: values may come from another realm (iframe, worker).
  const tag = Object.prototype.toString.call(value);
  if (tag === "[object Uint8Array]") return value as Uint8Array;
  if (tag === "[object ArrayBuffer]") return new Uint8Array(value as ArrayBuffer);
  throw corrupt(where, `holds ${tag.slice(8, -1)}, not bytes`);
}

function corrupt(where: Where, what: string): ConcordError {
  const key = JSON.stringify(where.key);
  return new ConcordError("Corrupt", `${where.label}: the entry at key ${key} ${what}; restore it from a replica or a backup`, {
    key: where.key,
  });
}

/** Runs one transaction, turning anything it throws into `Io`. */
async function transaction<T>(label: string, what: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    const message = e instanceof Error ? e.message : e == null ? "the transaction was aborted" : String(e);
    throw new ConcordError("Io", `${label}: the IndexedDB ${what} transaction failed: ${message}`, {}, { cause: e });
  }
}
