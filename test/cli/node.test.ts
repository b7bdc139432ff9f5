/**
 * `concord node` and `concord promote` as an operator runs them: the BUILT CLI (`npm test` builds
 * first) in child processes on loopback, real files, raw client sockets speaking the client
 * protocol through its codec, SIGTERM for graceful exits and SIGKILL for crashes. No sleeps: every
 * wait is on an event (a line of output, a log entry, an answer, a push, an exit), bounded by a
 * timeout.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startNodeServer } from "../../src/node-servers.js";
import { NODE_DOC } from "../../src/primary/primary-engine.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import type { Response, WirePosition } from "../../src/service/protocol.js";
import { encodeRequest } from "../../src/service/protocol-codec.js";
import { freePort, isEvent, runCleanups, tempDir, within } from "../reliability/harness.js";
import { expectAnswer, type NodeClient } from "../service/node-client.js";
import { client, health, startNode } from "./node-process.js";
import { concord } from "./run-cli.js";

/** The document the tests read and write. */
const DOC = "d";

afterEach(runCleanups);

let nextId = 100;

async function write(c: NodeClient, key: string, value: number | string, durability: "local" | number = "local"): Promise<Response> {
  return c.request({ type: "write", id: nextId++, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key, value }], durability: durability === "local" ? { level: "local" } : { level: "replicas", n: durability } });
}

/** Resolves once `follower` applied a write made now on `leader` (so it follows `leader`), with that write's position. */
async function follows(leader: NodeClient, follower: NodeClient, key: string): Promise<WirePosition> {
  const subscription = expectAnswer(await follower.request({ type: "subscribe", id: nextId++, doc: DOC, prefix: key, from: null }), "subscribed").subscription;
  const written = expectAnswer(await write(leader, key, key), "written");
  await follower.pushedAt(subscription, written.position);
  return written.position;
}

async function entries(c: NodeClient, prefix: string, after: WirePosition | null = null): Promise<readonly (readonly [string, unknown])[]> {
  return expectAnswer(await c.request({ type: "entries", id: nextId++, doc: DOC, prefix, read: { consistency: "local", maxStalenessMs: null, after, timeoutMs: 10_000 } }), "entries").entries;
}

/**
 * Writes `load/<n>` on `c` at local durability, `inFlight` at a time, until stopped or the
 * connection goes; `acked` holds each acknowledged key.
 */
function writeUnderLoad(c: NodeClient, inFlight = 8): { readonly acked: string[]; ackedAtLeast(n: number): Promise<void> } {
  const acked: string[] = [];
  const waits: { n: number; done: () => void }[] = [];
  const ids = new Map<number, string>();
  let next = 1_000_000;
  const send = (): void => {
    const id = next++;
    ids.set(id, `load/${id}`);
    c.sendRaw(encodeRequest({ type: "write", id, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: `load/${id}`, value: id }], durability: { level: "local" } }));
  };
  c.onResponse((r) => {
    if (r.type !== "written" || !ids.has(r.id)) return;
    acked.push(ids.get(r.id)!);
    for (const w of waits.filter((w) => acked.length >= w.n)) {
      waits.splice(waits.indexOf(w), 1);
      w.done();
    }
    send();
  });
  for (let i = 0; i < inFlight; i++) send();
  return {
    acked,
    ackedAtLeast: (n) => within(`${n} acknowledged load writes`, acked.length >= n ? Promise.resolve() : new Promise<void>((done) => waits.push({ n, done }))),
  };
}

describe("concord node", { timeout: 60_000 }, () => {
  it("runs a primary and a replica that replicate; concord promote makes the replica primary, and the old primary, still running, is fenced and follows", async () => {
    const p1 = await startNode(["--mode", "primary", "--id", "p1", "--port", "0", "--data", tempDir("concord-node-")]);
    expect(p1.started).toMatch(/^concord node: p1 listening on ws:\/\/127\.0\.0\.1:\d+ as primary of epoch 1 at LSN 0 \(primary: p1; data: .+\)$/);
    await p1.line(/^concord node: open to anyone: no --auth, so whoever reaches this address can read, write and administer it$/);
    await p1.line(/^concord node: no --peer-secret-file, so \/peer takes a link from whoever says it is a member$/);
    const r1 = await startNode(["--mode", "replica", "--id", "r1", "--port", "0", "--data", tempDir("concord-node-"), "--primary", `p1=${p1.url}`]);
    expect(r1.started).toMatch(/as replica of epoch 1 at LSN 0 \(primary: p1;/);
    const [cp, cr] = [await client(p1.url), await client(r1.url)];

    await follows(cp, cr, "hello");
    const acked = expectAnswer(await write(cp, "a", 1, 1), "written");
    expect(acked.replicas).toStrictEqual(["r1"]);
    expect(await entries(cr, "a", acked.position)).toStrictEqual([["a", 1]]);

    const promoted = await concord("promote", "--node", r1.url);
    expect(promoted, promoted.stderr).toMatchObject({ code: 0, stdout: `concord promote: ${r1.url} is now the primary of epoch 2 (from LSN 2)\n` });
    await p1.stderrCount(isEvent("node.fenced"), 1);
    const b = await follows(cr, cp, "b");
    expect(b.epoch).toBe(2);
    expect(await health(p1.url)).toMatchObject({ status: "ok", role: "replica", primary: "r1", epoch: 2, fenced: false });
    expect(await health(r1.url)).toMatchObject({ status: "ok", role: "primary", primary: "r1", epoch: 2 });
    expect(await write(cp, "c", 3)).toMatchObject({ type: "error", code: "ReadOnlyReplica", redirect: "r1" });

    const again = await concord("promote", "--node", r1.url);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`concord promote: ${r1.url} refused: InvalidArgument: node r1 is already the primary\n`);

    expect(await p1.kill("SIGTERM")).toStrictEqual({ code: 0, signal: null });
    expect(await r1.kill("SIGTERM")).toStrictEqual({ code: 0, signal: null });
    expect(p1.stderrLines.at(-1)).toMatch(/"event":"node\.closed"/);
  });

  it("survives a SIGKILL of the primary under writes: the promoted replica takes the writes, and the old primary, restarted with the same flags, rejoins as its replica and reports what it discarded", async () => {
    const port = await freePort();
    const p1Args = ["--mode", "primary", "--id", "p1", "--port", String(port), "--data", tempDir("concord-node-")];
    const r1Args = ["--mode", "replica", "--id", "r1", "--port", "0", "--data", tempDir("concord-node-"), "--primary", `p1=ws://127.0.0.1:${port}`];
    const p1 = await startNode(p1Args);
    let r1 = await startNode(r1Args);
    const cp = await client(p1.url);
    await follows(cp, await client(r1.url), "hello");
    // Acknowledged at { replicas: 1 }: these must survive the failover.
    for (let i = 0; i < 10; i++) expect(await write(cp, `safe/${i}`, i, 1)).toMatchObject({ type: "written", replicas: ["r1"] });

    // The replica goes away cleanly; the primary takes writes alone, then dies with writes in flight.
    expect(await r1.kill("SIGTERM")).toStrictEqual({ code: 0, signal: null });
    const load = writeUnderLoad(cp);
    await load.ackedAtLeast(30);
    expect(await p1.kill("SIGKILL")).toStrictEqual({ code: null, signal: "SIGKILL" });
    const lost = load.acked.length;

    // The replica comes back, is promoted, and takes the writes from now on.
    r1 = await startNode(r1Args);
    const promoted = await concord("promote", "--node", r1.url);
    expect(promoted, promoted.stderr).toMatchObject({ code: 0, stdout: `concord promote: ${r1.url} is now the primary of epoch 2 (from LSN 11)\n` });
    const cr = await client(r1.url);
    const failover = expectAnswer(await write(cr, "after", "failover"), "written");
    expect(failover.position).toStrictEqual({ epoch: 2, lsn: 12 });

    // The old primary, restarted with the very same flags, leads epoch 1 from its log until it hears of epoch 2.
    const back = await startNode(p1Args);
    expect(back.started).toMatch(/as primary of epoch 1 at LSN \d+/);
    await back.stderrCount(isEvent("node.fenced"), 1);
    await back.stderrCount((l) => isEvent("replica.snapshot_installed")(l) && !l.includes('"discarded":0'), 1);
    const cb = await client(back.url);
    const last = await follows(cr, cb, "rejoined");
    const healthz = await health(back.url);
    expect(healthz).toMatchObject({ status: "ok", role: "replica", primary: "r1", epoch: 2, lsn: last.lsn });
    // Everything it wrote after LSN 11 (the acknowledged load writes and any in flight) is gone.
    expect(healthz["discarded"]).toBeGreaterThanOrEqual(lost);
    expect(await entries(cb, "load/", last)).toStrictEqual([]);
    expect(await entries(cb, "", last)).toStrictEqual(await entries(cr, "", last));
    expect((await entries(cr, "safe/")).map(([k]) => k)).toStrictEqual(Array.from({ length: 10 }, (_, i) => `safe/${i}`));

    expect(await back.kill("SIGTERM")).toStrictEqual({ code: 0, signal: null });
    expect(await r1.kill("SIGTERM")).toStrictEqual({ code: 0, signal: null });
  });

  it("with --auth and --peer-secret-file it does not say it is open to anyone", async () => {
    const dir = tempDir("concord-node-");
    writeFileSync(join(dir, "auth.json"), JSON.stringify({ tokens: { t0k3n: { docs: ["*"], access: "admin" } } }));
    writeFileSync(join(dir, "peer.secret"), "a-secret-of-16-or-more\n");
    const n = await startNode(["--mode", "strong", "--id", "n1", "--port", "0", "--data", join(dir, "data"), "--peers", "n1=ws://127.0.0.1:1", "--auth", join(dir, "auth.json"), "--peer-secret-file", join(dir, "peer.secret")]);
    expect(await n.kill("SIGTERM")).toStrictEqual({ code: 0, signal: null });
    expect(n.stdoutLines.filter((l) => l.startsWith("concord node:") && !l.includes("listening on"))).toStrictEqual([]);
  });

  it("refuses bad flags with a message naming the flag and exit code 2", async () => {
    const cases: [string[], RegExp][] = [
      [["node"], /--mode must be primary, replica or strong, got nothing/],
      [["node", "--mode", "leader", "--id", "p1"], /--mode must be primary, replica or strong, got "leader"/],
      [["node", "--mode", "primary"], /--id needs this node's name/],
      [["node", "--mode", "replica", "--id", "r1"], /--mode replica needs --primary <id>=<url>/],
      [["node", "--mode", "primary", "--id", "p1", "--primary", "p0=ws://127.0.0.1:1"], /--primary is for --mode replica/],
      [["node", "--mode", "replica", "--id", "r1", "--primary", "p1"], /--primary takes <id>=<url>, e\.g\. p1=ws:\/\/127\.0\.0\.1:5001; got "p1"/],
      [["node", "--mode", "replica", "--id", "r1", "--primary", "r1=ws://127.0.0.1:1"], /--primary names this node itself \(r1\)/],
      [["node", "--mode", "replica", "--id", "r1", "--primary", "p1=ws://127.0.0.1:1,p2=ws://127.0.0.1:2"], /--primary names one node, got 2/],
      [["node", "--mode", "replica", "--id", "r1", "--primary", "p1=http://127.0.0.1:1"], /--primary \(p1\) must be a node's base URL, ws:\/\/host:port/],
      [["node", "--mode", "primary", "--id", "p1", "--peers", "r1=ws://127.0.0.1:1,oops"], /--peers takes <id>=<url>\[,<id>=<url>\.\.\.\]/],
      [["node", "--mode", "primary", "--id", "p1", "--peers", "r1=ws://127.0.0.1:1,r1=ws://127.0.0.1:2"], /--peers names r1 twice/],
      [["node", "--mode", "primary", "--id", "p1", "--port", "70000"], /--port must be an integer from 0 to 65535, got "70000"/],
      [["node", "--mode", "primary", "--id", "p1", "--min-replicas", "-1"], /--min-replicas must be an integer from 0 to/],
      [["node", "--mode", "primary", "--id", "p1", "--log-level", "loud"], /--log-level must be one of debug, info, warn, error/],
      [["node", "--mode", "primary", "--id", "p1", "--bogus", "1"], /unknown flag --bogus/],
      [["promote"], /concord promote needs --node <url>/],
      [["promote", "--node", "http://127.0.0.1:1"], /--node must be a node's base URL, ws:\/\/host:port/],
      [["promote", "--node", "ws://127.0.0.1:1", "--timeout-ms", "0"], /--timeout-ms must be an integer from 1 to/],
    ];
    const results = await Promise.all(cases.map(([args]) => concord(...args)));
    results.forEach((result, i) => {
      const [args, message] = cases[i]!;
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(new RegExp(`^concord: ${message.source}`));
    });
  });

  it("exits 1 on a damaged write-ahead log, naming the file (a checksum failure) or its folder (a record that does not decode) and what to do", async () => {
    const damaged = async (damage: (folder: string) => Promise<void>): Promise<{ code: number; stderr: string; folder: string }> => {
      const dataDir = tempDir("concord-node-");
      const server = await startNodeServer({ id: "p1", port: 0, dataDir, role: "primary", log: () => undefined });
      await server.close();
      const folder = join(dataDir, "node");
      await damage(folder);
      const run = await concord("node", "--mode", "primary", "--id", "p1", "--port", "0", "--data", dataDir);
      return { ...run, folder };
    };
    const checksum = await damaged(async (folder) => {
      const log = join(folder, readdirSync(folder).find((name) => name.endsWith(".log"))!);
      const bytes = readFileSync(log);
      bytes[bytes.length - 1]! ^= 0x40;
      writeFileSync(log, bytes);
    });
    expect(checksum.code).toBe(1);
    expect(checksum.stderr).toMatch(/^concord: Corrupt: \S+\/node\/log-0+\.log: a complete record fails its checksum at byte 0\. .*restore it from a replica or a backup/);

    const undecodable = await damaged(async (folder) => {
      const storage = await fileStorage(join(folder, ".."), { fsync: "always" }).open(NODE_DOC);
      await storage.append(Uint8Array.of(1, 0xee, 0, 0)); // a WAL entry of an unknown kind, with a valid checksum
      await storage.close();
    });
    expect(undecodable.code).toBe(1);
    expect(undecodable.stderr).toContain(`concord: Corrupt: ${undecodable.folder}: a write-ahead log record on disk does not decode`);
    expect(undecodable.stderr).toMatch(/restore the folder from a backup, or move it aside and start this node as a replica of the current primary/);
  });

  it("exits 1 when concord promote can't reach the node; documents every flag in --help", async () => {
    const port = await freePort();
    const unreachable = await concord("promote", "--node", `ws://127.0.0.1:${port}`);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(new RegExp(`^concord: Unavailable: cannot reach ws://127\\.0\\.0\\.1:${port}/client`));

    const help = await concord("node", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^  GET \/healthz .*\n(.*\n)*.*status "failed"/m);
    expect(help.stdout).toMatch(/^  GET \/metrics .*Prometheus/m);
    for (const flag of ["--mode", "--id", "--port", "--host", "--data", "--primary", "--peers", "--min-replicas", "--max-lag-ms", "--log-level"]) {
      expect(help.stdout).toContain(`  ${flag} <`);
    }
    expect((await concord("promote", "--help")).stdout).toContain("  --node <url>");
    const top = (await concord("--help")).stdout;
    expect(top).toMatch(/concord node --mode primary\|replica --id <id>/);
    expect(top).toMatch(/concord promote --node ws:\/\/host:port/);
  });
});
