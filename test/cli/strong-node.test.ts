/**
 * `concord node --mode strong` and `concord admin` as an operator runs them: the BUILT CLI in child
 * processes on loopback, real files, the real client. A 3-node cluster from three commands; the
 * leader killed with SIGKILL (writes go on, nothing acknowledged is lost) and restarted; a fourth
 * node joined as a learner, promoted, made leader, and an old member removed; bad flags refused.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/open-store.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { RAFT_DOC } from "../../src/strong/strong-engine.js";
import { freePort, onCleanup, runCleanups, tempDir } from "../reliability/harness.js";
import { health, startNode, type NodeProcess } from "./node-process.js";
import { concord } from "./run-cli.js";

afterEach(runCleanups);

const FAST = ["--heartbeat-ms", "25", "--election-ms", "500"];

async function cluster(size: number): Promise<{ peers: string; urls: string[]; dirs: string[]; start: (i: number, extra?: string[]) => Promise<NodeProcess> }> {
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const urls = ports.map((p) => `ws://127.0.0.1:${p}`);
  const peers = urls.map((u, i) => `n${i + 1}=${u}`).join(",");
  const dirs = urls.map((_, i) => tempDir(`concord-cli-n${i + 1}-`));
  const start = (i: number, extra: string[] = []) =>
    startNode(["--mode", "strong", "--id", `n${i + 1}`, "--port", String(ports[i]), "--data", dirs[i]!, ...(extra.includes("--peers") ? [] : ["--peers", peers]), ...FAST, ...extra]);
  return { peers, urls, dirs, start };
}

async function leaderOf(urls: readonly string[]): Promise<string> {
  const h = await health(urls[0]!);
  return String(h["leader"]);
}

describe("concord node --mode strong", { timeout: 60_000 }, () => {
  it("runs a 3-node cluster from three commands; a SIGKILLed leader loses nothing acknowledged; it rejoins on restart", async () => {
    const c = await cluster(3);
    const procs = await Promise.all([0, 1, 2].map((i) => c.start(i)));
    expect(procs[0]!.started).toMatch(/^concord node: n1 listening on ws:\/\/127\.0\.0\.1:\d+ as a strong-mode member of n1,n2,n3 \(term \d+, leader (n\d|none yet); data: .+\)$/);
    const store = await openStore({ mode: "strong", doc: "cli", nodes: c.urls, timeoutMs: 10_000 });
    onCleanup(() => store.close());
    for (let i = 0; i < 5; i++) await store.set(`k${i}`, i);
    const leader = await leaderOf(c.urls);
    const index = Number(leader.slice(1)) - 1;
    await procs[index]!.kill("SIGKILL");
    for (let i = 5; i < 10; i++) await store.set(`k${i}`, i);
    expect((await store.entries()).map(([k]) => k)).toStrictEqual(["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"]);
    procs[index] = await c.start(index);
    const follower = await openStore({ mode: "strong", doc: "cli", nodes: [c.urls[index]!], read: "local", timeoutMs: 10_000 });
    onCleanup(() => follower.close());
    await store.set("after-restart", true);
    // The restarted node catches up: a linearizable read through it sees every write.
    const linearizable = await openStore({ mode: "strong", doc: "cli", nodes: [c.urls[index]!], timeoutMs: 10_000 });
    onCleanup(() => linearizable.close());
    expect(await linearizable.get("after-restart")).toBe(true);
    expect((await linearizable.entries()).length).toBe(11);
    expect(await follower.get("k9")).toBe(9);
  });

  it("joins a fourth node as a learner, promotes it, transfers leadership to it and removes a founding member", async () => {
    const c = await cluster(4);
    const founding = await Promise.all([0, 1, 2].map((i) => c.start(i, ["--peers", c.peers.split(",").slice(0, 3).join(",")])));
    expect(founding).toHaveLength(3);
    const fourth = await c.start(3, ["--join"]);
    expect(fourth.started).toMatch(/as a strong-mode node of no cluster yet \(waiting to be added\) \(term 0, leader none yet; data: /);
    const added = await concord("admin", "--node", c.urls[1]!, "add-learner", `n4=${c.urls[3]}`);
    expect(added, added.stderr).toMatchObject({ code: 0, stdout: expect.stringMatching(/^concord admin: add-learner n4=ws:\S+ done at index \d+ of term \d+\n$/) });
    expect(await concord("admin", "--node", c.urls[0]!, "promote-learner", "n4")).toMatchObject({ code: 0 });
    expect(await concord("admin", "--node", c.urls[2]!, "transfer", "n4")).toMatchObject({ code: 0 });
    expect(await health(c.urls[3]!)).toMatchObject({ role: "leader", voters: ["n1", "n2", "n3", "n4"] });
    expect(await concord("admin", "--node", c.urls[3]!, "remove", "n1")).toMatchObject({ code: 0 });
    // A linearizable read through n2 waits until n2 applied everything committed: the removal too.
    const viaN2 = await openStore({ mode: "strong", doc: "cli", nodes: [c.urls[1]!], timeoutMs: 10_000 });
    onCleanup(() => viaN2.close());
    expect(await viaN2.get("x")).toBeUndefined();
    expect(await health(c.urls[1]!)).toMatchObject({ voters: ["n2", "n3", "n4"], leader: "n4" });
    const status = await concord("admin", "--node", c.urls[3]!, "status");
    expect(JSON.parse(status.stdout)).toMatchObject({ id: "n4", role: "leader", voters: ["n2", "n3", "n4"] });
    const store = await openStore({ mode: "strong", doc: "cli", nodes: c.urls.slice(1), timeoutMs: 10_000 });
    onCleanup(() => store.close());
    await store.set("x", 1);
    expect(await store.get("x")).toBe(1);
    // One change at a time, and nothing that makes no sense.
    expect(await concord("admin", "--node", c.urls[3]!, "promote-learner", "n9")).toMatchObject({ code: 1, stderr: expect.stringMatching(/refused: InvalidArgument/) });
  });

  it("answers /healthz (200 with role, term, leader, indexes, membership; 503 without a leader) and /metrics in the Prometheus format", async () => {
    const c = await cluster(3);
    const procs = await Promise.all([0, 1, 2].map((i) => c.start(i)));
    const store = await openStore({ mode: "strong", doc: "cli", nodes: c.urls, timeoutMs: 10_000 });
    onCleanup(() => store.close());
    await store.set("k", 1);
    await store.get("k");
    const leader = await leaderOf(c.urls);
    const leaderUrl = c.urls[Number(leader.slice(1)) - 1]!;
    const http = (u: string, path: string) => fetch(`${u.replace(/^ws:/, "http:")}${path}`);
    const h = await http(leaderUrl, "/healthz");
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ status: "ok", id: leader, role: "leader", leader, term: expect.any(Number), commit: expect.any(Number), applied: expect.any(Number), voters: ["n1", "n2", "n3"], learners: [] });
    const metrics = await (await http(leaderUrl, "/metrics")).text();
    for (const line of [
      'concord_raft_role{role="leader"} 1',
      "concord_raft_has_leader 1",
      "# TYPE concord_raft_fsync_seconds histogram",
      "# TYPE concord_raft_elections_total counter",
      "concord_client_connections 1",
      'concord_requests_total{type="write",outcome="ok"} 1',
    ]) {
      expect(metrics).toContain(line);
    }
    expect(metrics).toMatch(/^concord_raft_proposals_total \d+$/m);
    expect(metrics).toMatch(/^concord_raft_fsync_seconds_count [1-9]\d*$/m);
    // Alone, a node knows no leader (once it stepped down): 503, with what it knows.
    const others = [0, 1, 2].filter((i) => `n${i + 1}` !== leader);
    const lone = procs[Number(leader.slice(1)) - 1]!;
    const from = lone.stderrLines.length;
    for (const i of others) await procs[i]!.kill("SIGKILL");
    await lone.stderrCount((l) => l.includes('"event":"raft.leader"') && l.includes('"leader":null'), 1, from);
    const alone = await http(leaderUrl, "/healthz");
    expect(alone.status).toBe(503);
    expect(await alone.json()).toMatchObject({ status: "unavailable", id: leader, leader: null });
  });

  it("refuses to start on a damaged Raft log, naming the file and what to do", async () => {
    const c = await cluster(1);
    const first = await c.start(0);
    const store = await openStore({ mode: "strong", doc: "cli", nodes: c.urls, timeoutMs: 10_000 });
    await store.set("k", "v");
    await store.close();
    await first.kill("SIGTERM");
    const folder = join(c.dirs[0]!, "raft");
    const log = join(folder, readdirSync(folder).find((name) => name.endsWith(".log"))!);
    const bytes = readFileSync(log);
    bytes[10]! ^= 0x40;
    writeFileSync(log, bytes);
    const run = await concord("node", "--mode", "strong", "--id", "n1", "--port", "0", "--data", c.dirs[0]!, "--peers", c.peers);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^concord: Corrupt: \S+\/raft\/log-0+\.log: a (complete )?record (header )?fails its checksum at byte \d+\. /);
    expect(run.stderr).toMatch(/remove this node from the cluster \(concord admin remove\), move the folder aside and add the node back as a learner/);

    // A record whose checksum holds but which is no Raft log record: named by folder and record.
    writeFileSync(log, Buffer.alloc(0));
    const storage = await fileStorage(c.dirs[0]!, { fsync: "always" }).open(RAFT_DOC);
    await storage.append(Uint8Array.of(1, 0xee, 0xee));
    await storage.close();
    const undecodable = await concord("node", "--mode", "strong", "--id", "n1", "--port", "0", "--data", c.dirs[0]!, "--peers", c.peers);
    expect(undecodable.code).toBe(1);
    expect(undecodable.stderr).toContain(`concord: Corrupt: ${folder}: raft log: record 0 does not decode`);
    expect(undecodable.stderr).toMatch(/add the node back as a learner with an empty folder/);
  });

  it("refuses flags that make no sense for strong mode, with a usage error", async () => {
    const port = String(await freePort());
    expect(await concord("node", "--mode", "strong", "--id", "n1", "--port", port, "--primary", "p1=ws://127.0.0.1:1")).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--primary is for --mode primary or replica/),
    });
    expect(await concord("node", "--mode", "strong", "--id", "n1", "--join")).toMatchObject({ code: 2, stderr: expect.stringMatching(/--join needs --peers/) });
    expect(await concord("node", "--mode", "strong", "--id", "n1", "--peers", "n2=ws://h:1", "--heartbeat-ms", "30", "--election-ms", "100")).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--election-ms \(100\) must be a multiple of --heartbeat-ms \(30\)/),
    });
    expect(await concord("node", "--mode", "primary", "--id", "p1", "--join")).toMatchObject({ code: 2, stderr: expect.stringMatching(/--join is for --mode strong/) });
    expect(await concord("admin", "--node", "ws://127.0.0.1:1", "frobnicate")).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown admin action "frobnicate"/) });
    expect(await concord("admin", "--node", "ws://127.0.0.1:1", "add-learner", "n4")).toMatchObject({ code: 2, stderr: expect.stringMatching(/add-learner takes <id>=<url>/) });
  });
});
