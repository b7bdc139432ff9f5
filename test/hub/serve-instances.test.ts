/**
 * `concord serve --redis --postgres` as real processes (the built CLI), on real Redis and
 * PostgreSQL: an instance SIGKILLed under load loses nothing it acknowledged, its clients carry on
 * through another instance, and the presence of its clients goes from the others' clients; a Redis
 * that could lose acknowledged updates is refused at start (exit 2, saying which setting).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { LabProcess, restartablePort } from "../../src/lab/lab-process.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import { enginesForTests, startRedis } from "../engines/engines.js";
import { awarenessState, connect, hasValue, onCleanup, runCleanups, synced } from "../server/fixtures.js";

const exec = promisify(execFile);
const engines = enginesForTests({ beforeAll, afterAll });
afterEach(runCleanups);

async function serveInstance(name: string): Promise<{ proc: LabProcess; url: string }> {
  const port = await restartablePort();
  const args = ["dist/cli/main.js", "serve", "--port", String(port), "--static", "none", "--redis", engines.redis.url, "--postgres", engines.postgres.url, "--instance", name, "--idle-unload-ms", "200"];
  const proc = await LabProcess.start(`concord serve ${name}`, args, /^concord serve: listening on /);
  onCleanup(async () => {
    proc.child.kill("SIGKILL");
    await proc.exited;
  });
  return { proc, url: `ws://127.0.0.1:${port}` };
}

describe("concord serve instances over Redis and PostgreSQL", () => {
  it("an instance SIGKILLed under load: nothing it acknowledged is lost, its client goes on elsewhere, its clients' presence goes", async () => {
    const [a, b] = await Promise.all([serveInstance("a"), serveInstance("b")]);
    const writer = await openStore({ mode: "eventual", doc: "kill", persistence: memoryStorage(), sync: { url: a.url, WebSocket: WebSocket as never } });
    onCleanup(() => writer.close());
    const watcher = connect({ url: b.url } as never, "kill");
    await synced(watcher);
    writer.setPresence({ user: "writer-on-a" });
    await awarenessState(watcher, "the writer's presence", () => [...watcher.provider.awareness.getStates().values()].some((s) => s["user"] === "writer-on-a"));
    const acked: number[] = [];
    for (let i = 0; i < 40; i++) {
      await writer.set(`k${i}`, i, { ack: "server" });
      acked.push(i);
    }
    const pending = Array.from({ length: 20 }, (_, j) => writer.set(`late${j}`, j)); // in flight as it dies
    a.proc.child.kill("SIGKILL");
    await a.proc.exited;
    // Its clients' presence goes once its heartbeat lapses (3 s).
    await awarenessState(watcher, "the writer's presence gone", () => ![...watcher.provider.awareness.getStates().values()].some((s) => s["user"] === "writer-on-a"));
    for (const i of acked) await hasValue(watcher, `k${i}`, i);
    await Promise.all(pending);
    // The same replica reconnects through the other instance and hands over what it has.
    await writer.close();
    const again = await openStore({ mode: "eventual", doc: "kill", persistence: memoryStorage(), sync: { url: b.url, WebSocket: WebSocket as never } });
    onCleanup(() => again.close());
    await again.set("after", true, { ack: "server" });
    await hasValue(watcher, "after", true);
    for (const i of acked) expect(again.getLocal(`k${i}`)).toBe(i);
  }, 60_000);

  it("refuses a Redis that acknowledges before fsync (exit 2, naming the setting)", async () => {
    const lax = await startRedis();
    onCleanup(() => lax.stop());
    await exec("redis-cli", ["-u", lax.url, "CONFIG", "SET", "appendfsync", "everysec"]);
    const run = exec(process.execPath, ["dist/cli/main.js", "serve", "--port", "0", "--redis", lax.url, "--postgres", engines.postgres.url], { timeout: 20_000 });
    const failed = await run.then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/appendfsync everysec/);
    expect(failed?.stderr).toMatch(/appendfsync always/);
  }, 30_000);

  it("answers bad scale-out flags and unreachable engines with a message a person can act on", async () => {
    const run = async (...args: string[]) =>
      exec(process.execPath, ["dist/cli/main.js", "serve", "--port", "0", ...args], { timeout: 20_000 }).then(
        () => ({ code: 0, stderr: "" }),
        (e: { code: number; stderr: string }) => e,
      );
    const one = await run("--redis", engines.redis.url);
    expect(one).toMatchObject({ code: 2, stderr: expect.stringMatching(/both --redis <url> and --postgres <url>/) });
    const compaction = await run("--redis", engines.redis.url, "--postgres", engines.postgres.url, "--compaction", "maybe");
    expect(compaction).toMatchObject({ code: 2, stderr: expect.stringMatching(/--compaction must be on or off/) });
    const scheme = await run("--redis", "http://127.0.0.1:6379", "--postgres", engines.postgres.url);
    expect(scheme).toMatchObject({ code: 2, stderr: expect.stringMatching(/redis:\/\/ or rediss:\/\/ URL/) });
    const closedPort = await restartablePort();
    const unreachable = await run("--redis", `redis://127.0.0.1:${closedPort}`, "--postgres", engines.postgres.url);
    expect(unreachable).toMatchObject({ code: 1, stderr: expect.stringMatching(/can't reach Redis at redis:\/\/127\.0\.0\.1:\d+ .*is it running/) });
    const noPostgres = await run("--redis", engines.redis.url, "--postgres", `postgres://concord@127.0.0.1:${closedPort}/postgres`);
    expect(noPostgres).toMatchObject({ code: 1, stderr: expect.stringMatching(/can't use PostgreSQL at .*ECONNREFUSED/) });
  }, 60_000);
});
