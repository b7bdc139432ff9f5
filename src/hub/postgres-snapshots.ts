/**
 * The {@link SnapshotStore} over PostgreSQL (12+): one row per document in `concord_snapshots`
 * (created at start-up when missing). A `put` is one INSERT ... ON CONFLICT DO UPDATE that only
 * replaces a snapshot reaching less far, so racing workers keep the furthest.
 *
 * Durability: a `put` resolves once its transaction committed, which is durable only when the
 * server runs with `fsync = on` and `synchronous_commit` not `off`; {@link connectPostgres} checks
 * both at start-up and refuses otherwise (the log is trimmed after a put: a snapshot lost to a
 * crash of PostgreSQL would take the trimmed entries with it).
 */
import pg from "pg";
import { ConcordError } from "../errors.js";
import type { DocId } from "../ids.js";
import { isEntryId, type EntryId } from "./shared-log.js";
import type { Snapshot, SnapshotStore } from "./snapshot-store.js";

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database`. */
  readonly url: string;
  /** The table (created when missing). Default `concord_snapshots`. */
  readonly table?: string;
}

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Connects, checks durability settings and creates the table when missing. Rejects `Unavailable`
 * when PostgreSQL can't be reached, `InvalidArgument` for a bad URL or table name, or settings
 * under which a committed snapshot could be lost.
 */
export async function connectPostgres(options: PostgresOptions): Promise<SnapshotStore> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new ConcordError("InvalidArgument", `--postgres must be a URL like postgres://user@127.0.0.1:5432/concord, got ${JSON.stringify(options.url)}`);
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConcordError("InvalidArgument", `--postgres must be a postgres:// URL, got ${JSON.stringify(options.url)}`);
  }
  const table = options.table ?? "concord_snapshots";
  if (!TABLE_NAME.test(table)) throw new ConcordError("InvalidArgument", `the snapshot table must be a plain lower-case SQL name, got ${JSON.stringify(table)}`);
  const copy = new URL(url.href);
  if (copy.password) copy.password = "***";
  const name = copy.href;
  const pool = new pg.Pool({ connectionString: options.url, max: 4, connectionTimeoutMillis: 2_000 });
  pool.on("error", () => undefined); // an idle client's failure: the next query reports it
  try {
    const settings = await pool.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')",
    );
    const value = (n: string) => settings.rows.find((r) => r.name === n)?.setting ?? "unknown";
    if (value("fsync") !== "on" || value("synchronous_commit") === "off") {
      throw new ConcordError(
        "InvalidArgument",
        `${name} runs with fsync = ${value("fsync")} and synchronous_commit = ${value("synchronous_commit")}: a snapshot it committed could be lost to a crash, ` +
          "and with it the log entries trimmed after it. Set fsync = on and synchronous_commit = on, then start again",
      );
    }
    // Instances starting together would race on CREATE TABLE IF NOT EXISTS (it is not atomic in
    // PostgreSQL): one creates it under a lock, the others find it there.
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [table]);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${table} (doc text PRIMARY KEY, up_to_ms bigint NOT NULL, up_to_seq bigint NOT NULL, snapshot bytea NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
      );
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (error instanceof ConcordError) throw error;
    throw new ConcordError(
      "Unavailable",
      `can't use PostgreSQL at ${name} (${error instanceof Error ? error.message : String(error)}): is it running, and may this user connect and create a table?`,
      { engine: name },
      { cause: error },
    );
  }
  return new PostgresSnapshots(name, table, pool);
}

function unavailable(name: string, error: unknown): ConcordError {
  return new ConcordError("Unavailable", `${name}: ${error instanceof Error ? error.message : String(error)}`, { engine: name }, { cause: error });
}

class PostgresSnapshots implements SnapshotStore {
  #closed = false;

  constructor(
    readonly name: string,
    private readonly table: string,
    private readonly pool: pg.Pool,
  ) {}

  async get(doc: DocId): Promise<Snapshot | undefined> {
    let rows;
    try {
      rows = (await this.pool.query<{ up_to_ms: string; up_to_seq: string; snapshot: Buffer }>(`SELECT up_to_ms, up_to_seq, snapshot FROM ${this.table} WHERE doc = $1`, [doc])).rows;
    } catch (error) {
      throw unavailable(this.name, error);
    }
    const row = rows[0];
    if (row === undefined) return undefined;
    const upTo = `${row.up_to_ms}-${row.up_to_seq}`;
    if (!isEntryId(upTo) || !Buffer.isBuffer(row.snapshot)) {
      throw new ConcordError("Corrupt", `${this.name}: the snapshot row of document "${doc}" in ${this.table} is malformed`, { doc });
    }
    return { update: new Uint8Array(row.snapshot.buffer, row.snapshot.byteOffset, row.snapshot.byteLength), upTo: upTo as EntryId };
  }

  async put(doc: DocId, snapshot: Snapshot): Promise<boolean> {
    const at = snapshot.upTo.indexOf("-");
    const [ms, seq] = [snapshot.upTo.slice(0, at), snapshot.upTo.slice(at + 1)];
    try {
      const result = await this.pool.query(
        `INSERT INTO ${this.table} AS s (doc, up_to_ms, up_to_seq, snapshot) VALUES ($1, $2, $3, $4)
         ON CONFLICT (doc) DO UPDATE SET up_to_ms = EXCLUDED.up_to_ms, up_to_seq = EXCLUDED.up_to_seq, snapshot = EXCLUDED.snapshot, updated_at = now()
         WHERE (s.up_to_ms, s.up_to_seq) < (EXCLUDED.up_to_ms, EXCLUDED.up_to_seq)`,
        [doc, ms, seq, Buffer.from(snapshot.update.buffer, snapshot.update.byteOffset, snapshot.update.byteLength)],
      );
      return result.rowCount === 1;
    } catch (error) {
      throw unavailable(this.name, error);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.pool.query("SELECT 1");
    } catch (error) {
      throw unavailable(this.name, error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end();
  }
}
