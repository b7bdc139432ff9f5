/**
 * Scale-out on real engines: Redis (`redis-server`, AOF fsync always) and PostgreSQL 15, each
 * started in a temp folder on loopback (`test/engines/engines.ts`; `.ci/run` installs them), three
 * `concord serve` instances in this process. Stock clients converge across instances; Redis killed
 * (SIGKILL) and PostgreSQL killed under load: the instances say so in health and acknowledge nothing
 * while either is down, nothing acknowledged is lost, and every document converges after.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import { connectScaleOut } from "../../src/hub/scale-out.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import { enginesForTests } from "../engines/engines.js";
import { editsAndPresenceReachAll } from "./instances.js";
import { connect, hasValue, onCleanup, runCleanups, start, synced, type Running } from "../server/fixtures.js";

const exec = promisify(execFile);
const engines = enginesForTests({ beforeAll, afterAll });
afterEach(runCleanups);

async function instance(name: string): Promise<Running> {
  const scaleOut = await connectScaleOut({ redis: engines.redis.url, postgres: engines.postgres.url, instance: name, heartbeatMs: 200, compaction: { everyMs: 200, minEntries: 20 }, onLog: () => undefined });
  return start({ persistence: undefined, idleUnloadMs: 100, scaleOut });
}

/** A Concord client of `server`'s `doc` (memory storage: what it acknowledged at `server` is what counts). */
async function concordClient(server: Running, doc: string): Promise<EventualStore> {
  const store = await openStore({ mode: "eventual", doc, persistence: memoryStorage(), sync: { url: server.server.url, WebSocket: WebSocket as never } });
  onCleanup(() => store.close());
  return store;
}

function healthIs(server: Running, status: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const until = Date.now() + 15_000;
    const check = (): void => {
      if (server.server.health().status === status) return resolve();
      if (Date.now() > until) return reject(new Error(`health stayed ${JSON.stringify(server.server.health())}, never ${status}`));
      setTimeout(check, 25);
    };
    check();
  });
}

describe("scale-out on Redis and PostgreSQL", () => {
  it("stock clients spread over three instances converge, edits and presence both ways", async () => {
    const instances = await Promise.all(["a", "b", "c"].map(instance));
    await editsAndPresenceReachAll(instances, "spread");
    expect(instances[0]!.server.health().shared?.instances).toEqual(["b", "c"]);
  }, 30_000);

  it("Redis killed under load: health fails, nothing is acknowledged meanwhile, nothing acknowledged is lost", async () => {
    const [a, b] = await Promise.all(["a", "b"].map(instance));
    const writer = await concordClient(a!, "load");
    const acked: string[] = [];
    let stop = false;
    let i = 0;
    const load = (async () => {
      while (!stop) {
        const key = `k${i++}`;
        await writer.set(key, i, { ack: "server" });
        acked.push(key);
      }
    })();
    while (acked.length < 50) await new Promise((r) => setTimeout(r, 10));
    await engines.redis.kill();
    await healthIs(a!, "failing");
    const whileDown = acked.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(acked.length).toBe(whileDown); // nothing acknowledged that the log could not take
    await engines.redis.start();
    await healthIs(a!, "ok");
    while (acked.length < whileDown + 50) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await load;
    const reader = connect(b!.server, "load");
    for (const key of acked) await hasValue(reader, key, Number(key.slice(1)) + 1);
  }, 60_000);

  it("PostgreSQL killed under load: health fails, nothing is acknowledged until it is back, nothing acknowledged is lost", async () => {
    const [a, b] = await Promise.all(["a", "b"].map(instance));
    const writer = await concordClient(a!, "pg");
    for (let i = 0; i < 30; i++) await writer.set(`k${i}`, i, { ack: "server" });
    await engines.postgres.kill();
    await healthIs(a!, "failing");
    let acked = false;
    const during = writer.set("while-down", true, { ack: "server" }).then(() => (acked = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(acked).toBe(false); // the instance lost an engine: it acknowledges nothing
    await engines.postgres.start();
    await healthIs(a!, "ok");
    await healthIs(b!, "ok");
    await during;
    const reader = connect(b!.server, "pg");
    for (let i = 0; i < 30; i++) await hasValue(reader, `k${i}`, i);
    await hasValue(reader, "while-down", true);
  }, 60_000);
});

describe("scale-out on Redis and PostgreSQL: what another program writes", () => {
  it("malformed entries in a document's stream are reported and skipped; the instances go on serving and converging", async () => {
    const [a, b] = await Promise.all(["a", "b"].map(instance));
    const onA = connect(a!.server, "garbage");
    const onB = connect(b!.server, "garbage");
    await Promise.all([synced(onA), synced(onB)]);
    onA.map.set("before", 1);
    await hasValue(onB, "before", 1);
    const key = "concord:log:garbage";
    await exec("redis-cli", ["-u", engines.redis.url, "XADD", key, "*", "x", "y"]); // no origin, no update
    await exec("redis-cli", ["-u", engines.redis.url, "XADD", key, "*", "o", "other", "u", "not a yjs update"]);
    onA.map.set("after", 2);
    await hasValue(onB, "after", 2);
    expect(a!.server.health().status).toBe("ok");
    expect(b!.server.health().status).toBe("ok");
    // A fresh load of the document refuses the malformed stream as Corrupt, naming it, rather than drop data.
    await Promise.all([a!.server.close(), b!.server.close()]);
    const c = await instance("c");
    connect(c.server, "garbage");
    await c.logged((e) => e.event === "room.open_failed");
    expect(c.server.health().failedDocuments?.[0]).toMatchObject({ doc: "garbage", code: "Corrupt" });
    expect(c.server.health().status).toBe("degraded"); // the other documents are served
  }, 60_000);
});
