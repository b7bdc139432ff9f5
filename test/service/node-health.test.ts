/**
 * What an operator's probes see of a node server (src/service/node-server.ts), in process, on real
 * sockets on loopback and real files: `/healthz` turns 503 `failed`, with the error, once the
 * node's storage fails (its log file swapped for /dev/full, where every write fails with ENOSPC),
 * and `/metrics` of a primary and its replica, parsed, agrees with `/healthz` and with what was
 * written. Every wait is on an event (an answer, a push, a log entry), bounded: no sleeps.
 */
import { existsSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PROMETHEUS_CONTENT_TYPE as METRICS_CONTENT_TYPE } from "../../src/ops/prometheus.js";
import type { PrimaryEngine } from "../../src/primary/primary-engine.js";
import type { NodeServer as ServedNode } from "../../src/service/node-server.js";

type NodeServer = ServedNode<PrimaryEngine>;
import type { Request } from "../../src/service/protocol.js";
import { runCleanups } from "../reliability/harness.js";
import { expectAnswer } from "./node-client.js";
import { client, pair, READ, start } from "./node-servers.js";

/** The document the tests read and write. */
const DOC = "d";

afterEach(runCleanups);

function get(server: NodeServer, path: string): Promise<Response> {
  return fetch(`${server.url.replace(/^ws:/, "http:")}${path}`);
}

async function healthz(server: NodeServer): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await get(server, "/healthz");
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * The samples of a Prometheus text page, `name{labels}` to value; checks that every sample's
 * metric was introduced by its HELP and TYPE lines.
 */
async function metrics(server: NodeServer): Promise<Map<string, number>> {
  const res = await get(server, "/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe(METRICS_CONTENT_TYPE);
  const samples = new Map<string, number>();
  const described = new Set<string>();
  for (const line of (await res.text()).split("\n")) {
    const comment = /^# (HELP|TYPE) (\w+) (.+)$/.exec(line);
    if (comment !== null) {
      if (comment[1] === "TYPE") {
        expect(comment[3]).toMatch(/^(gauge|counter)$/);
        described.add(comment[2]!);
      }
      continue;
    }
    if (line === "") continue;
    const sample = /^(\w+)((?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (sample === null) throw new Error(`not a sample: ${JSON.stringify(line)}`);
    expect(described, `TYPE of ${sample[1]}`).toContain(sample[1]);
    samples.set(`${sample[1]}${sample[2]}`, sample[3] === "+Inf" ? Number.POSITIVE_INFINITY : Number(sample[3]));
  }
  return samples;
}

let nextId = 100;
const set = (key: string, value: number, durability: Extract<Request, { type: "write" }>["durability"] = { level: "local" }): Request => ({
  type: "write",
  id: nextId++,
  doc: DOC,
  conditions: [],
  ops: [{ kind: "set", key, value }],
  durability,
  session: null,
});

describe("node health and metrics", { timeout: 30_000 }, () => {
  it("answers /healthz 503 failed with the error once its storage fails, refuses writes with it, logs it, and counts it in /metrics", async () => {
    expect(existsSync("/dev/full"), "this test fails a real write through Linux's /dev/full").toBe(true);
    const first = await start("p1", "primary");
    expectAnswer(await (await client(first.server)).request(set("kept", 0)), "written");
    await first.server.close();
    // Restarted, the node appends nothing until a write: the log file is opened for appending then,
    // and from now on it is /dev/full.
    const p = await start("p1", "primary", { dataDir: first.dataDir });
    const folder = join(p.dataDir, "node");
    const log = readdirSync(folder).filter((name) => name.endsWith(".log")).sort().at(-1)!;
    rmSync(join(folder, log));
    symlinkSync("/dev/full", join(folder, log));
    expect(await healthz(p.server)).toMatchObject({ status: 200, body: { status: "ok" } });

    const c = await client(p.server);
    const refused = await c.request(set("a", 1));
    expect(refused).toMatchObject({ type: "error", code: "Io", message: expect.stringMatching(/ENOSPC/) });
    const failed = await p.logs.event("node.failed");
    expect(failed).toMatchObject({ level: "error", node: "p1", code: "Io" });

    const health = await healthz(p.server);
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: "failed", id: "p1", role: "primary", primary: "p1", epoch: 1, lsn: 1, fenced: false });
    expect(health.body["error"]).toStrictEqual({ code: "Io", message: failed["error"] });
    // Writes are refused with the failure; reads are still served from the last state.
    expect(await c.request(set("b", 2))).toMatchObject({ type: "error", code: "Io", message: failed["error"] });
    expect(await c.request({ type: "get", id: nextId++, doc: DOC, key: "kept", read: READ })).toMatchObject({ type: "value", value: 0 });

    const m = await metrics(p.server);
    expect(m.get("concord_node_failed")).toBe(1);
    expect(m.get('concord_requests_total{type="write",outcome="error:Io"}')).toBe(2);
    expect(m.get('concord_requests_total{type="write",outcome="ok"}')).toBe(0);
    expect(m.get('concord_requests_total{type="read",outcome="ok"}')).toBe(1);
  });

  it("serves /metrics on a primary and its replica that agree with /healthz and with what was written", async () => {
    const { p, r, cp, cr, subscription } = await pair(); // one write: "first", at LSN 1
    expectAnswer(await cp.request(set("a", 1, { level: "replicas", n: 1 })), "written");
    const b = expectAnswer(await cp.request(set("b", 2, { level: "replicas", n: 1 })), "written");
    await cr.pushedAt(subscription, b.position);
    expect(await cp.request(set("c", 3, { level: "committed" }))).toMatchObject({ type: "error", code: "InvalidArgument" });
    expect(await cr.request(set("c", 3))).toMatchObject({ type: "error", code: "ReadOnlyReplica" });
    expect(await cr.request({ type: "get", id: nextId++, doc: DOC, key: "b", read: { ...READ, after: b.position } })).toMatchObject({ type: "value", value: 2 });
    expect(await cp.request({ type: "entries", id: nextId++, doc: DOC, prefix: "", read: READ })).toMatchObject({ type: "entries" });
    await client(p.server); // a second client socket on the primary

    const [pm, ph] = [await metrics(p.server), (await healthz(p.server)).body];
    expect(ph).toMatchObject({ status: "ok", role: "primary", epoch: 1, lsn: 3, replicas: [{ id: "r1", received: 3, applied: 3, fresh: true }] });
    expect(Object.fromEntries(pm)).toMatchObject({
      'concord_node_info{id="p1",primary="p1"}': 1,
      'concord_node_role{role="primary"}': 1,
      'concord_node_role{role="replica"}': 0,
      concord_node_epoch: ph["epoch"],
      concord_node_lsn: ph["lsn"],
      concord_node_lag_records: 0,
      concord_node_silent_ms: 0,
      concord_node_fenced: 0,
      concord_node_failed: 0,
      concord_node_discarded_records_total: ph["discarded"],
      concord_node_dropped_messages_total: ph["dropped"],
      'concord_node_replicas{fresh="true"}': 1,
      'concord_node_replicas{fresh="false"}': 0,
      'concord_node_replica_fresh{replica="r1"}': 1,
      'concord_node_replica_received_lsn{replica="r1"}': 3,
      'concord_node_replica_applied_lsn{replica="r1"}': 3,
      concord_client_connections: 2,
      'concord_requests_total{type="write",outcome="ok"}': 3,
      'concord_requests_total{type="write",outcome="error:InvalidArgument"}': 1,
      'concord_requests_total{type="read",outcome="ok"}': 1,
    });

    const [rm, rh] = [await metrics(r.server), (await healthz(r.server)).body];
    expect(rh).toMatchObject({ status: "ok", role: "replica", primary: "p1", epoch: 1, lsn: 3, lagLsn: 0 });
    expect(Object.fromEntries(rm)).toMatchObject({
      'concord_node_info{id="r1",primary="p1"}': 1,
      'concord_node_role{role="primary"}': 0,
      'concord_node_role{role="replica"}': 1,
      concord_node_epoch: rh["epoch"],
      concord_node_lsn: rh["lsn"],
      concord_node_lag_records: rh["lagLsn"],
      concord_node_fenced: 0,
      concord_node_failed: 0,
      'concord_node_replicas{fresh="true"}': 0,
      concord_client_connections: 1,
      'concord_requests_total{type="write",outcome="ok"}': 0,
      'concord_requests_total{type="write",outcome="error:ReadOnlyReplica"}': 1,
      'concord_requests_total{type="read",outcome="ok"}': 1,
    });
    expect(rm.get("concord_node_silent_ms")).toBeGreaterThanOrEqual(0);
    expect(rm.get("concord_node_silent_ms")).toBeLessThan(2_000); // heard within maxLagMs
    expect([...rm.keys()].filter((k) => k.startsWith("concord_node_replica_"))).toStrictEqual([]);
  });
});
