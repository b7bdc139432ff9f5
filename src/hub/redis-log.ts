/**
 * The {@link SharedLog} and {@link PresenceBus} over Redis (7+): one stream per document
 * (`<prefix>log:<doc>`, fields `o` origin and `u` update), pub/sub channels for presence
 * (`<prefix>presence:<doc>`) and heartbeats (`<prefix>instances`).
 *
 * Durability: an XADD's reply means durable only when Redis runs with `appendonly yes` and
 * `appendfsync always` (Redis writes and fsyncs the AOF before it sends the replies of an event-loop
 * pass, blocked XREADs included). {@link connectRedis} checks both at start-up and refuses
 * otherwise: with `everysec` an acknowledged update could be lost to a crash of Redis.
 *
 * Three connections: commands (XADD, XRANGE, XTRIM...), one blocked in XREAD for the documents
 * followed, one subscribed for presence. Commands are never queued while disconnected nor resent
 * after a reconnect (a resent XADD could land twice or out of order): they reject `Unavailable`,
 * and the caller fails the document (it reopens from what is durable).
 */
import { Redis } from "ioredis";
import { ConcordError } from "../errors.js";
import { asDocId, type DocId } from "../ids.js";
import type { PresenceBus, PresenceListener, PresenceMessage } from "./presence-bus.js";
import { compareEntryIds, isEntryId, type EntryId, type FollowListener, type LogEntry, type SharedLog } from "./shared-log.js";

export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  readonly url: string;
  /** Prefix of every key and channel (several deployments can share one Redis). Default `concord:`. */
  readonly prefix?: string;
  /** Entries per XREAD of the follower. Default 1,000. */
  readonly readBatch?: number;
}

/** The shared log and presence bus of one Redis. Close with `close()` (closes all three connections). */
export interface RedisEngines {
  readonly log: SharedLog;
  readonly bus: PresenceBus;
}

const RECONNECT_MAX_MS = 2_000;

/**
 * Connects to Redis and checks that an acknowledged append is durable. Rejects with
 * `Unavailable` when Redis can't be reached, `InvalidArgument` for a bad URL or for a Redis whose
 * persistence would make acknowledgements lies (the message says which setting to change).
 */
export async function connectRedis(options: RedisOptions): Promise<RedisEngines> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new ConcordError("InvalidArgument", `--redis must be a URL like redis://127.0.0.1:6379, got ${JSON.stringify(options.url)}`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new ConcordError("InvalidArgument", `--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(options.url)}`);
  }
  const prefix = options.prefix ?? "concord:";
  const connect = (role: string): Redis =>
    new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(times * 100, RECONNECT_MAX_MS),
      connectionName: `concord-${role}`,
    });
  const commands = connect("commands");
  const reader = connect("reader");
  const subscriber = connect("presence");
  let lastError: Error | undefined;
  for (const c of [commands, reader, subscriber]) c.on("error", (e: Error) => (lastError = e)); // surfaced by the calls that fail
  const name = redacted(url);
  try {
    await Promise.all([commands.connect(), reader.connect(), subscriber.connect()]);
    const appendonly = await configValue(commands, "appendonly");
    const appendfsync = await configValue(commands, "appendfsync");
    if (appendonly !== "yes" || appendfsync !== "always") {
      throw new ConcordError(
        "InvalidArgument",
        `${name} runs with appendonly ${appendonly} and appendfsync ${appendfsync}: an update it acknowledged could be lost to a crash of Redis. ` +
          "Run it with appendonly yes and appendfsync always (redis-server --appendonly yes --appendfsync always, or CONFIG SET), then start again",
        { appendonly, appendfsync },
      );
    }
  } catch (error) {
    commands.disconnect();
    reader.disconnect();
    subscriber.disconnect();
    if (error instanceof ConcordError) throw error;
    const why = lastError?.message ?? (error instanceof Error ? error.message : String(error));
    throw new ConcordError("Unavailable", `can't reach Redis at ${name} (${why}): is it running and reachable from here?`, { engine: name }, { cause: error });
  }
  const log = new RedisLog(name, prefix, commands, reader, options.readBatch ?? 1_000);
  const bus = new RedisBus(prefix, commands, subscriber);
  return { log, bus };
}

async function configValue(c: Redis, key: string): Promise<string> {
  const reply = (await c.call("CONFIG", "GET", key)) as unknown;
  return Array.isArray(reply) && typeof reply[1] === "string" ? reply[1] : "unknown (CONFIG GET refused)";
}

function redacted(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = "***";
  return copy.href.replace(/\/$/, "");
}

function unavailable(name: string, error: unknown): ConcordError {
  if (error instanceof ConcordError) return error;
  return new ConcordError("Unavailable", `${name}: ${error instanceof Error ? error.message : String(error)}`, { engine: name }, { cause: error });
}

/** The entry after `id` (`ms-seq` + 1): XTRIM MINID keeps ids at or after it. */
function nextId(id: EntryId): string {
  const at = id.indexOf("-");
  return `${id.slice(0, at)}-${BigInt(id.slice(at + 1)) + 1n}`;
}

/**
 * Trims a stream up to an id (KEYS[1], MINID ARGV[2]) and records the id (ARGV[1]) in KEYS[2]
 * unless a later one is there, in one step: a follower that reads the record knows what it missed.
 */
const TRIM_SCRIPT = `
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
local function parse(id) local ms, seq = string.match(id, '^(%d+)-(%d+)$'); return tonumber(ms), tonumber(seq) end
local cur = redis.call('GET', KEYS[2])
if cur then
  local cm, cs = parse(cur)
  local nm, ns = parse(ARGV[1])
  if nm < cm or (nm == cm and ns <= cs) then return 0 end
end
redis.call('SET', KEYS[2], ARGV[1])
return 1`;

interface Follower {
  readonly doc: DocId;
  after: EntryId | null;
  readonly listener: FollowListener;
}

class RedisLog implements SharedLog {
  readonly #followers = new Set<Follower>();
  /** Per document, the last malformed entry of the batch being delivered. */
  readonly #skipped = new Map<DocId, EntryId>();
  #readerId: string | undefined;
  #looping = false;
  #closed = false;
  /** Wakes the follow loop when it waits for a first follower. */
  #wake: (() => void) | undefined;
  #failing = false;

  constructor(
    readonly name: string,
    private readonly prefix: string,
    private readonly commands: Redis,
    private readonly reader: Redis,
    private readonly readBatch: number,
  ) {
    reader.on("ready", () => void this.#learnReaderId());
    void this.#learnReaderId();
  }

  #key(doc: DocId): string {
    return `${this.prefix}log:${doc}`;
  }

  async append(doc: DocId, update: Uint8Array, origin: string): Promise<EntryId> {
    let reply: unknown;
    try {
      reply = await this.commands.call("XADD", this.#key(doc), "*", "o", origin, "u", Buffer.from(update.buffer, update.byteOffset, update.byteLength));
    } catch (error) {
      throw unavailable(this.name, error);
    }
    if (!isEntryId(reply)) throw new ConcordError("Unavailable", `${this.name}: XADD answered ${JSON.stringify(reply)}, not an entry id`);
    return reply;
  }

  async range(doc: DocId, after: EntryId | null, count: number): Promise<LogEntry[]> {
    let reply: unknown;
    try {
      reply = await this.commands.callBuffer("XRANGE", this.#key(doc), after === null ? "-" : `(${after}`, "+", "COUNT", count);
    } catch (error) {
      throw unavailable(this.name, error);
    }
    return this.#entries(doc, reply);
  }

  follow(doc: DocId, after: EntryId | null, listener: FollowListener): () => void {
    const f: Follower = { doc, after, listener };
    this.#followers.add(f);
    this.#interrupt();
    void this.#loop();
    return () => {
      if (this.#followers.delete(f)) this.#interrupt();
    };
  }

  async trim(doc: DocId, upTo: EntryId): Promise<void> {
    try {
      await this.commands.call("EVAL", TRIM_SCRIPT, 2, this.#key(doc), this.#trimmedKey(doc), upTo, nextId(upTo));
    } catch (error) {
      throw unavailable(this.name, error);
    }
  }

  /** The newest id trimmed from `doc`'s log (Redis's own `max-deleted-entry-id` counts XDEL only). */
  #trimmedKey(doc: DocId): string {
    return `${this.prefix}trimmed:${doc}`;
  }

  async documents(): Promise<{ doc: DocId; entries: number }[]> {
    const out: { doc: DocId; entries: number }[] = [];
    const prefix = `${this.prefix}log:`;
    try {
      let cursor = "0";
      do {
        const [next, keys] = (await this.commands.call("SCAN", cursor, "MATCH", `${escapeGlob(prefix)}*`, "TYPE", "stream", "COUNT", 1000)) as [string, string[]];
        cursor = next;
        for (const key of keys) {
          const entries = Number(await this.commands.call("XLEN", key));
          if (entries > 0) out.push({ doc: asDocId(key.slice(prefix.length)), entries });
        }
      } while (cursor !== "0");
    } catch (error) {
      throw unavailable(this.name, error);
    }
    return out;
  }

  async ping(): Promise<void> {
    try {
      await this.commands.ping();
    } catch (error) {
      throw unavailable(this.name, error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#followers.clear();
    this.#wake?.();
    this.commands.disconnect();
    this.reader.disconnect();
  }

  async #learnReaderId(): Promise<void> {
    try {
      this.#readerId = String(await this.reader.call("CLIENT", "ID"));
    } catch {
      this.#readerId = undefined; // learned again on the next "ready"
    }
  }

  /** Makes a blocked XREAD return now, so that the loop reads the new set of documents. */
  #interrupt(): void {
    this.#wake?.();
    if (this.#readerId !== undefined) this.commands.call("CLIENT", "UNBLOCK", this.#readerId).catch(() => undefined);
  }

  async #loop(): Promise<void> {
    if (this.#looping) return;
    this.#looping = true;
    try {
      while (!this.#closed && this.#followers.size > 0) {
        // One XREAD for every followed document, from the earliest position any follower of it needs.
        const from = new Map<DocId, EntryId | null>();
        for (const f of this.#followers) {
          const known = from.get(f.doc);
          if (!from.has(f.doc) || compareEntryIds(f.after, known ?? null) < 0) from.set(f.doc, f.after);
        }
        const docs = [...from.keys()];
        let reply: unknown;
        try {
          reply = await this.reader.callBuffer("XREAD", "COUNT", this.readBatch, "BLOCK", 5_000, "STREAMS", ...docs.map((d) => this.#key(d)), ...docs.map((d) => from.get(d) ?? "0-0"));
          this.#failing = false;
        } catch (error) {
          if (this.#closed) return;
          if (!this.#failing) {
            this.#failing = true;
            for (const f of this.#followers) f.listener.error(unavailable(this.name, error));
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 250);
            this.#wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.#wake = undefined;
          continue;
        }
        if (!Array.isArray(reply)) {
          // Timed out or unblocked: a follower behind a trim hears of it even if nothing new comes.
          for (const doc of docs) await this.#checkGap(doc);
          continue;
        }
        for (const stream of reply as unknown[]) {
          if (!Array.isArray(stream) || !Buffer.isBuffer(stream[0])) continue;
          const doc = asDocId(stream[0].toString("utf8").slice(`${this.prefix}log:`.length));
          // An entry another program wrote (malformed) is reported and skipped: following goes on.
          const entries = this.#followedEntries(doc, stream[1]);
          await this.#checkGap(doc);
          const skipped = this.#skipped.get(doc);
          this.#skipped.delete(doc);
          for (const f of [...this.#followers]) {
            if (f.doc !== doc) continue;
            const fresh = entries.filter((e) => compareEntryIds(e.id, f.after) > 0);
            const last = fresh[fresh.length - 1]?.id ?? f.after;
            f.after = skipped !== undefined && compareEntryIds(skipped, last) > 0 ? skipped : last;
            if (fresh.length > 0) f.listener.entries(fresh);
          }
        }
      }
    } finally {
      this.#looping = false;
    }
  }

  /**
   * Tells the followers of `doc` whose position is behind the newest trimmed id that they missed
   * entries, and moves them past it.
   */
  async #checkGap(doc: DocId): Promise<void> {
    let deleted: unknown;
    try {
      deleted = await this.commands.call("GET", this.#trimmedKey(doc));
    } catch {
      return; // unreachable: the next read reports it
    }
    if (!isEntryId(deleted)) return;
    for (const f of [...this.#followers]) {
      if (f.doc !== doc || compareEntryIds(deleted, f.after) <= 0) continue;
      f.after = deleted;
      f.listener.gap();
    }
  }

  /** Parses the entries an XREAD returned for `doc`, one by one; a malformed one is reported and skipped. */
  #followedEntries(doc: DocId, items: unknown): LogEntry[] {
    const out: LogEntry[] = [];
    for (const item of Array.isArray(items) ? items : []) {
      try {
        out.push(...this.#entries(doc, [item]));
      } catch (error) {
        const id = Array.isArray(item) && Buffer.isBuffer(item[0]) ? item[0].toString("latin1") : undefined;
        for (const f of this.#followers) if (f.doc === doc) f.listener.error(error);
        // Skipped once the entries around it are delivered (see the loop), never read again.
        if (isEntryId(id)) this.#skipped.set(doc, id);
      }
    }
    return out;
  }

  /** Parses an XRANGE/XREAD entry list; a malformed one is `Corrupt` (someone else wrote that key). */
  #entries(doc: DocId, reply: unknown): LogEntry[] {
    if (!Array.isArray(reply)) throw this.#corrupt(doc, "not a list of entries");
    return reply.map((item: unknown) => {
      if (!Array.isArray(item) || !Buffer.isBuffer(item[0]) || !Array.isArray(item[1])) throw this.#corrupt(doc, "an entry is not [id, fields]");
      const id = item[0].toString("latin1");
      if (!isEntryId(id)) throw this.#corrupt(doc, `entry id ${JSON.stringify(id)}`);
      let origin: string | undefined;
      let update: Uint8Array | undefined;
      const fields = item[1] as unknown[];
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const [k, v] = [fields[i], fields[i + 1]];
        if (!Buffer.isBuffer(k) || !Buffer.isBuffer(v)) continue;
        if (k.toString() === "o") origin = v.toString("utf8");
        else if (k.toString() === "u") update = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      }
      if (origin === undefined || update === undefined) throw this.#corrupt(doc, `entry ${id} lacks its origin or update`);
      return { id, origin, update };
    });
  }

  #corrupt(doc: DocId, what: string): ConcordError {
    return new ConcordError("Corrupt", `${this.name}: the log of document "${doc}" holds something Concord did not write (${what}); was the key ${this.#key(doc)} written by another program?`, { doc });
  }
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Bus message: `a` (awareness) or `q` (query), origin length (u16 BE), origin, payload. */
function encodeBus(m: PresenceMessage): Buffer {
  const origin = Buffer.from(m.origin, "utf8");
  const payload = m.kind === "awareness" ? m.bytes : new Uint8Array(0);
  const out = Buffer.allocUnsafe(3 + origin.length + payload.length);
  out[0] = m.kind === "awareness" ? 0x61 : 0x71;
  out.writeUInt16BE(origin.length, 1);
  origin.copy(out, 3);
  out.set(payload, 3 + origin.length);
  return out;
}

function decodeBus(b: Buffer): PresenceMessage | undefined {
  if (b.length < 3) return undefined;
  const n = b.readUInt16BE(1);
  if (3 + n > b.length || n === 0) return undefined;
  const origin = b.subarray(3, 3 + n).toString("utf8");
  if (b[0] === 0x71) return { kind: "query", origin };
  if (b[0] === 0x61) return { kind: "awareness", origin, bytes: new Uint8Array(b.subarray(3 + n)) };
  return undefined;
}

class RedisBus implements PresenceBus {
  #listener: PresenceListener | undefined;
  readonly #watched = new Set<DocId>();

  constructor(
    private readonly prefix: string,
    private readonly commands: Redis,
    private readonly subscriber: Redis,
  ) {
    subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => this.#hear(channel.toString("utf8"), message));
    subscriber.on("ready", () => void this.#resubscribe());
    void this.#resubscribe();
  }

  #channel(doc: DocId): string {
    return `${this.prefix}presence:${doc}`;
  }

  publish(doc: DocId, message: PresenceMessage): void {
    this.commands.call("PUBLISH", this.#channel(doc), encodeBus(message)).catch(() => undefined);
  }

  announce(origin: string, alive: boolean): void {
    this.commands.call("PUBLISH", `${this.prefix}instances`, `${alive ? "alive" : "gone"}:${origin}`).catch(() => undefined);
  }

  watch(doc: DocId): void {
    if (this.#watched.has(doc)) return;
    this.#watched.add(doc);
    this.subscriber.subscribe(this.#channel(doc)).catch(() => undefined); // resubscribed on "ready"
  }

  unwatch(doc: DocId): void {
    if (!this.#watched.delete(doc)) return;
    this.subscriber.unsubscribe(this.#channel(doc)).catch(() => undefined);
  }

  listen(listener: PresenceListener): void {
    this.#listener = listener;
  }

  async close(): Promise<void> {
    this.#listener = undefined;
    this.subscriber.disconnect();
  }

  async #resubscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(`${this.prefix}instances`, ...[...this.#watched].map((d) => this.#channel(d)));
    } catch {
      // not connected: done again on the next "ready"
    }
  }

  #hear(channel: string, message: Buffer): void {
    const listener = this.#listener;
    if (listener === undefined) return;
    if (channel === `${this.prefix}instances`) {
      const text = message.toString("utf8");
      const at = text.indexOf(":");
      const kind = text.slice(0, at);
      const origin = text.slice(at + 1);
      if (at > 0 && origin.length > 0 && (kind === "alive" || kind === "gone")) listener.instance(origin, kind === "alive");
      return;
    }
    const prefix = `${this.prefix}presence:`;
    if (!channel.startsWith(prefix)) return;
    const m = decodeBus(message);
    if (m !== undefined) listener.message(asDocId(channel.slice(prefix.length)), m);
  }
}
