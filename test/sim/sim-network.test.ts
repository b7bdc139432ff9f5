import { describe, expect, it } from "vitest";
import { ConcordError, InvariantError } from "../../src/errors.js";
import { asPeerId, type PeerId } from "../../src/ids.js";
import { seededRng } from "../../src/rng.js";
import { type NetworkEvent, type NetworkFaults, SimNetwork } from "../../src/sim/sim-network.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { describeTransportContract, type Heard, record } from "../net/transport-contract.js";

/** The test harness's settle: a full drain of the microtask queue (Node only). */
const drainAll = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A network on a virtual clock, recording its trace. */
function simWorld(seed = 1, faults: Partial<NetworkFaults> = {}) {
  const clock = new VirtualClock({ settle: drainAll });
  const trace: NetworkEvent[] = [];
  const net = new SimNetwork({ clock, rng: seededRng(seed), faults, onEvent: (e) => trace.push(e) });
  /** Fires every pending timer (deliveries and notices). */
  const drain = async () => {
    expect(await clock.runUntil(() => clock.pendingTimers() === 0, { maxSteps: 1_000_000 })).toBe(true);
  };
  /** Joins and listens on every id and lets the up notices fire (at the same virtual ms). */
  const connect = async (...ids: PeerId[]) => {
    const transports = ids.map((id) => net.join(id));
    const heard = transports.map(record);
    await clock.advance(0);
    return { transports, heard };
  };
  const kinds = (kind: NetworkEvent["kind"]) => trace.filter((e) => e.kind === kind);
  const drops = (reason: string) => trace.filter((e) => e.kind === "drop" && e.reason === reason);
  return { clock, net, trace, drain, connect, kinds, drops };
}

const [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(asPeerId) as [PeerId, PeerId, PeerId, PeerId, PeerId];
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const received = (heard: Heard[]): string[] => heard.flatMap((h) => (h[0] === "message" ? [h[2]] : []));
const notices = (heard: Heard[]): Heard[] => heard.filter((h) => h[0] !== "message");

function expectStatsBalanced(net: SimNetwork): void {
  const s = net.stats();
  expect(s.sent + s.duplicated).toBe(s.delivered + s.dropped + net.inFlight());
}

describeTransportContract("SimNetwork (faults off, virtual clock)", () => {
  const { net, clock } = simWorld(7);
  return {
    join: (id) => net.join(id),
    settle: async () => void (await clock.runUntil(() => clock.pendingTimers() === 0, { maxSteps: 100_000 })),
  };
});

describe("SimNetwork", () => {
  it("announces up from a clock timer at delay 0, and drops sends made before it", async () => {
    const w = simWorld();
    const ta = w.net.join(a);
    const ha = record(ta);
    const hb = record(w.net.join(b));
    ta.send(b, bytes("too early"));
    expect(ha).toEqual([]);
    expect(w.clock.pendingTimers()).toBe(1);
    await w.clock.advance(0);
    expect(w.clock.now()).toBe(0);
    expect(ha).toEqual([["up", b]]);
    expect(hb).toEqual([["up", a]]);
    expect(w.drops("not-up")).toHaveLength(1);
    expect(w.kinds("up")).toEqual([
      { kind: "up", at: 0, peer: a, remote: b },
      { kind: "up", at: 0, peer: b, remote: a },
    ]);
  });

  it("reorders messages even with faults off, but delivers each exactly once", async () => {
    const w = simWorld(3);
    const { transports: [ta], heard: [, hb] } = await w.connect(a, b);
    const sent = Array.from({ length: 200 }, (_, i) => `m${i}`);
    for (const m of sent) ta!.send(b, bytes(m));
    await w.drain();
    const got = received(hb!);
    expect(got).not.toEqual(sent);
    expect([...got].sort()).toEqual([...sent].sort());
    expect(w.net.stats()).toEqual({ sent: 200, delivered: 200, dropped: 0, duplicated: 0 });
  });

  describe("determinism", () => {
    /** A busy run: random sends between 4 peers, faults on, a partition and a heal. */
    async function scenario(networkSeed: number): Promise<NetworkEvent[]> {
      const w = simWorld(networkSeed, { loss: 0.1, duplicate: 0.1, delay: { minMs: 1, medianMs: 5, tailMs: 50, maxMs: 200 } });
      const ids = [a, b, c, d];
      const { transports } = await w.connect(...ids);
      const workload = seededRng(2024); // the same workload whatever the network seed
      for (let i = 0; i < 300; i++) {
        w.clock.setTimer(workload.int(0, 500), () => transports[workload.int(0, 3)]!.send(workload.pick(ids), bytes(`m${i}`)));
      }
      w.clock.setTimer(200, () => w.net.partition([[a, b], [c, d]]));
      w.clock.setTimer(350, () => w.net.heal());
      await w.drain();
      return w.trace;
    }

    it("replays the identical trace for the same seed", async () => {
      const first = await scenario(42);
      expect(first.length).toBeGreaterThan(600);
      expect(await scenario(42)).toEqual(first);
    });

    it("gives a different trace for a different seed", async () => {
      expect(await scenario(43)).not.toEqual(await scenario(42));
    });
  });

  it("honours loss and duplication rates over many messages (fixed seed, loose bounds)", async () => {
    const w = simWorld(5, { loss: 0.2, duplicate: 0.1 });
    const { transports: [ta], heard: [, hb] } = await w.connect(a, b);
    const n = 5000;
    for (let i = 0; i < n; i++) ta!.send(b, bytes(`${i}`));
    expectStatsBalanced(w.net);
    await w.drain();
    const lost = w.drops("loss").length;
    const { duplicated, delivered, dropped } = w.net.stats();
    expect(lost / n).toBeGreaterThan(0.17);
    expect(lost / n).toBeLessThan(0.23);
    expect(duplicated / (n - lost)).toBeGreaterThan(0.08);
    expect(duplicated / (n - lost)).toBeLessThan(0.12);
    expect(dropped).toBe(lost);
    expect(delivered).toBe(n - lost + duplicated);
    expect(received(hb!)).toHaveLength(delivered);
    expectStatsBalanced(w.net);
    expect(w.net.inFlight()).toBe(0);
  });

  it("has a long-tailed delay: most near the median, a few beyond 10x median, none outside [min, max]", async () => {
    const delay = { minMs: 1, medianMs: 5, tailMs: 100, maxMs: 1000 };
    const w = simWorld(11, { delay });
    const { transports: [ta] } = await w.connect(a, b);
    for (let i = 0; i < 5000; i++) ta!.send(b, bytes("x"));
    await w.drain();
    const delays = w.kinds("deliver").map((ev) => ev.at).sort((x, y) => x - y); // all sent at 0
    const quantile = (q: number) => delays[Math.floor(q * (delays.length - 1))]!;
    expect(delays).toHaveLength(5000);
    expect(quantile(0.5)).toBeGreaterThan(4.5);
    expect(quantile(0.5)).toBeLessThan(5.5);
    expect(quantile(0.99)).toBeGreaterThan(60);
    expect(quantile(0.99)).toBeLessThan(170);
    const beyond = delays.filter((ms) => ms > 10 * delay.medianMs).length;
    expect(beyond).toBeGreaterThan(50); // about 3.7% of log-normal mass
    expect(beyond).toBeLessThan(400);
    expect(delays[0]).toBeGreaterThanOrEqual(delay.minMs);
    expect(delays.at(-1)).toBeLessThanOrEqual(delay.maxMs);
  });

  describe("partitions (silent by default)", () => {
    /** Sends one message on every ordered pair and returns the pairs that got through. */
    async function reachable(ids: PeerId[], w: ReturnType<typeof simWorld>, transports: { send(to: PeerId, b: Uint8Array): void }[]) {
      const before = w.kinds("deliver").length;
      ids.forEach((from, i) => ids.forEach((to) => from !== to && transports[i]!.send(to, bytes(`${from}>${to}`))));
      await w.drain();
      return w.kinds("deliver").slice(before).map((ev) => (ev.kind === "deliver" ? `${ev.from}>${ev.to}` : "")).sort();
    }

    it("splits into groups; unlisted peers form one more group together", async () => {
      const w = simWorld();
      const ids = [a, b, c, d, e];
      const { transports, heard } = await w.connect(...ids);
      w.net.partition([[a, b], [c]]);
      expect(await reachable(ids, w, transports)).toEqual(["a>b", "b>a", "d>e", "e>d"]);
      expect(w.net.canReach(a, asPeerId("joins-later"))).toBe(false);
      expect(w.net.canReach(d, asPeerId("joins-later"))).toBe(true);
      w.net.heal();
      expect(await reachable(ids, w, transports)).toHaveLength(20);
      for (const h of heard) expect(notices(h).every((n) => n[0] === "up")).toBe(true);
    });

    it("replaces the previous partition and rejects a peer in two groups", async () => {
      const w = simWorld();
      w.net.partition([[a], [b]]);
      w.net.partition([[a, b], [c]]);
      expect(w.net.canReach(a, b)).toBe(true);
      expect(() => w.net.partition([[a], [a, b]])).toThrow(ConcordError);
    });

    it("cut is one-way: a -> b dropped, b -> a delivered, nobody sees down", async () => {
      const w = simWorld();
      const ids = [a, b];
      const { transports, heard } = await w.connect(...ids);
      w.net.cut(a, b);
      expect(await reachable(ids, w, transports)).toEqual(["b>a"]);
      expect(w.drops("partition")).toHaveLength(1);
      expect(heard.flatMap(notices)).toEqual([["up", b], ["up", a]]);
    });

    it("isolate blocks every link of one peer until heal", async () => {
      const w = simWorld();
      const ids = [a, b, c];
      const { transports } = await w.connect(...ids);
      w.net.isolate(c);
      expect(await reachable(ids, w, transports)).toEqual(["a>b", "b>a"]);
      w.net.heal();
      expect(await reachable(ids, w, transports)).toHaveLength(6);
      expect(w.kinds("down")).toEqual([]);
    });

    it("drops at delivery a message in flight across a link cut after it was sent", async () => {
      const w = simWorld();
      const { transports: [ta], heard: [, hb] } = await w.connect(a, b);
      ta!.send(b, bytes("in flight"));
      w.net.partition([[a], [b]]);
      await w.drain();
      expect(received(hb!)).toEqual([]);
      const [drop] = w.drops("partition");
      expect(drop).toMatchObject({ from: a, to: b });
      expect(drop!.at).toBeGreaterThan(0);
    });

    it("delivers a message whose silent link was healed before it arrived (a stalled connection)", async () => {
      const w = simWorld();
      const { transports: [ta], heard: [, hb] } = await w.connect(a, b);
      ta!.send(b, bytes("stalled"));
      w.net.cut(a, b);
      w.net.heal();
      await w.drain();
      expect(received(hb!)).toEqual(["stalled"]);
    });
  });

  describe("disconnectOnPartition", () => {
    it("fires down on both sides of a cut link and up again on heal; traffic resumes", async () => {
      const w = simWorld(1, { disconnectOnPartition: true });
      const { transports: [ta, tb], heard: [ha, hb, hc] } = await w.connect(a, b, c);
      w.net.cut(a, b);
      await w.clock.advance(0);
      expect(notices(ha!)).toEqual([["up", b], ["up", c], ["down", b]]);
      expect(notices(hb!)).toEqual([["up", a], ["up", c], ["down", a]]);
      expect(notices(hc!)).toEqual([["up", a], ["up", b]]);
      expect(ta!.peers()).toEqual([c]);
      tb!.send(a, bytes("while cut"));
      expect(w.drops("not-up")).toHaveLength(1);
      w.net.heal();
      await w.clock.advance(0);
      expect(notices(ha!).at(-1)).toEqual(["up", b]);
      expect(notices(hb!).at(-1)).toEqual(["up", a]);
      tb!.send(a, bytes("after heal"));
      await w.drain();
      expect(received(ha!)).toEqual(["after heal"]);
    });

    it("drops a message sent on the old connection even when healed before it arrives", async () => {
      const w = simWorld(1, { disconnectOnPartition: true });
      const { transports: [ta], heard: [, hb] } = await w.connect(a, b);
      ta!.send(b, bytes("old connection"));
      w.net.partition([[a], [b]]);
      w.net.heal();
      await w.drain();
      expect(received(hb!)).toEqual([]);
      expect(w.drops("disconnected")).toHaveLength(1);
      expect(notices(hb!)).toEqual([["up", a], ["down", a], ["up", a]]);
    });

    it("disconnects links already cut when switched on", async () => {
      const w = simWorld();
      const { heard: [ha] } = await w.connect(a, b);
      w.net.isolate(b);
      await w.clock.advance(0);
      expect(notices(ha!)).toEqual([["up", b]]);
      w.net.setFaults({ disconnectOnPartition: true });
      await w.clock.advance(0);
      expect(notices(ha!)).toEqual([["up", b], ["down", b]]);
    });
  });

  describe("leaving", () => {
    it("drops messages in flight to and from a peer that leaves", async () => {
      const w = simWorld();
      const { transports: [ta, tb], heard: [ha, hb] } = await w.connect(a, b);
      ta!.send(b, bytes("to leaver"));
      tb!.send(a, bytes("from leaver"));
      tb!.close();
      expect(w.net.inFlight()).toBe(2);
      await w.drain();
      expect(received(ha!)).toEqual([]);
      expect(received(hb!)).toEqual([]);
      expect(w.drops("disconnected")).toMatchObject([{ from: a, to: b }]);
      expect(w.drops("closed")).toMatchObject([{ from: b, to: a }]);
      expect(w.net.inFlight()).toBe(0);
      expectStatsBalanced(w.net);
    });

    it("does not deliver to a restarted peer what was sent to its previous incarnation", async () => {
      const w = simWorld();
      const { transports: [ta, tb] } = await w.connect(a, b);
      ta!.send(b, bytes("to old b"));
      tb!.close();
      const hb2 = record(w.net.join(b));
      await w.drain();
      expect(received(hb2)).toEqual([]);
      expect(hb2).toEqual([["up", a]]);
      expect(w.kinds("join").map((ev) => (ev.kind === "join" ? ev.peer : ""))).toEqual([a, b, b]);
      expect(w.kinds("leave")).toHaveLength(1);
    });
  });

  it("applies setFaults to later sends only", async () => {
    const w = simWorld();
    const { transports: [ta], heard: [, hb] } = await w.connect(a, b);
    ta!.send(b, bytes("before"));
    w.net.setFaults({ loss: 1 });
    ta!.send(b, bytes("lost"));
    w.net.setFaults({ loss: 0 });
    ta!.send(b, bytes("after"));
    await w.drain();
    expect([...received(hb!)].sort()).toEqual(["after", "before"]);
    expect(w.net.faults().loss).toBe(0);
    expect(w.kinds("faults")).toHaveLength(2);
  });

  it("rejects invalid faults with InvalidArgument and a live id joining twice with InvariantError", () => {
    const clock = new VirtualClock();
    const make = (faults: Partial<NetworkFaults>) => () => new SimNetwork({ clock, rng: seededRng(1), faults });
    const unordered = { delay: { minMs: 5, medianMs: 2, tailMs: 8, maxMs: 9 } };
    for (const bad of [{ loss: 1.5 }, { duplicate: -0.1 }, { loss: Number.NaN }, unordered]) {
      expect(make(bad)).toThrow(expect.objectContaining({ code: "InvalidArgument" }) as Error);
    }
    const net = make({})();
    expect(() => net.setFaults({ delay: { minMs: 0, medianMs: 1, tailMs: 10, maxMs: 5 } })).toThrow(ConcordError);
    net.join(a);
    expect(() => net.join(a)).toThrow(InvariantError);
  });
});
