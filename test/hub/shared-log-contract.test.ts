/**
 * The shared log's contract, run against its in-memory twin and against Redis (a real
 * `redis-server` started in a temp folder): ordered appends, ranges after an id, followers that
 * hear every entry once and in order, and followers that hear of a gap when entries they had not
 * read were trimmed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryHub } from "../../src/hub/memory-hub.js";
import { connectRedis, type RedisEngines } from "../../src/hub/redis-log.js";
import type { EntryId, LogEntry, SharedLog } from "../../src/hub/shared-log.js";
import { asDocId } from "../../src/ids.js";
import { startRedis, type Engine } from "../engines/engines.js";

let redis: Engine;
let engines: RedisEngines;
beforeAll(async () => {
  redis = await startRedis();
  engines = await connectRedis({ url: redis.url, prefix: "contract:" });
}, 30_000);
afterAll(async () => {
  await engines?.bus.close();
  await engines?.log.close();
  await redis?.stop();
});

const bytes = (n: number) => new Uint8Array([n]);
let docs = 0;

/** Follows `doc` from `after`, recording what it hears; `until(n)` resolves once `n` entries came. */
function follower(log: SharedLog, doc: string, after: EntryId | null) {
  const heard: (LogEntry | "gap")[] = [];
  let wake = (): void => undefined;
  const stop = log.follow(asDocId(doc), after, {
    entries: (es) => {
      heard.push(...es);
      wake();
    },
    error: () => undefined,
    gap: () => {
      heard.push("gap");
      wake();
    },
  });
  const until = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`heard ${heard.length} of ${n}`)), 10_000);
      const check = (): void => {
        if (heard.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      };
      wake = check;
      check();
    });
  return { heard, until, stop };
}

for (const [name, make] of [
  ["memory", () => new MemoryHub().log()],
  ["redis", () => engines.log],
] as const) {
  describe(`the shared log contract: ${name}`, () => {
    it("appends in order; range returns what follows an id", async () => {
      const log = make();
      const doc = asDocId(`d${++docs}`);
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(await log.append(doc, bytes(i), "a"));
      const all = await log.range(doc, null, 100);
      expect(all.map((e) => e.id)).toEqual(ids);
      expect(all.map((e) => e.update[0])).toEqual([0, 1, 2, 3, 4]);
      expect((await log.range(doc, ids[1]!, 2)).map((e) => e.update[0])).toEqual([2, 3]);
      expect(all.every((e) => e.origin === "a")).toBe(true);
    });

    it("a follower hears every entry after its position, once and in order", async () => {
      const log = make();
      const doc = `d${++docs}`;
      const first = await log.append(asDocId(doc), bytes(0), "a");
      const f = follower(log, doc, first);
      for (let i = 1; i <= 20; i++) await log.append(asDocId(doc), bytes(i), i % 2 ? "a" : "b");
      await f.until(20);
      f.stop();
      expect(f.heard.map((e) => (e === "gap" ? e : e.update[0]))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it("a follower behind a trim hears of the gap before the entries after it", async () => {
      const log = make();
      const doc = `d${++docs}`;
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(await log.append(asDocId(doc), bytes(i), "a"));
      await log.trim(asDocId(doc), ids[1]!);
      expect((await log.range(asDocId(doc), null, 10)).map((e) => e.update[0])).toEqual([2]);
      const f = follower(log, doc, ids[0]!);
      await f.until(2);
      f.stop();
      expect(f.heard.map((e) => (e === "gap" ? e : e.update[0]))).toEqual(["gap", 2]);
    });

    it("lists documents with entries", async () => {
      const log = make();
      const doc = asDocId(`d${++docs}`);
      await log.append(doc, bytes(1), "a");
      await log.append(doc, bytes(2), "a");
      expect((await log.documents()).find((d) => d.doc === doc)?.entries).toBe(2);
    });
  });
}
