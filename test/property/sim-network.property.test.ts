/**
 * Properties of the simulated network over random fault configurations, send schedules and link
 * faults. Each case builds a world on a VirtualClock, runs the schedule to quiescence and checks
 * what the peers received against an oracle kept by the test (not the network's own bookkeeping).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { asPeerId, type PeerId } from "../../src/ids.js";
import { seededRng } from "../../src/rng.js";
import { type DelayDistribution, type NetworkEvent, type NetworkFaults, SimNetwork } from "../../src/sim/sim-network.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { checkProperty, propRuns } from "./prop.js";

const PEERS = ["p0", "p1", "p2", "p3", "p4"].map(asPeerId);

type Action =
  | { kind: "send"; at: number; from: number; to: number }
  | { kind: "partition"; at: number; groupOf: number[] }
  | { kind: "cut"; at: number; from: number; to: number }
  | { kind: "isolate"; at: number; peer: number }
  | { kind: "heal"; at: number };

interface Scenario {
  seed: number;
  peers: number;
  faults: NetworkFaults;
  actions: Action[];
}

// Built from integers: fc.double clusters near 0 (medians around 1e-200 ms), which would make
// every delay 0 and let no link fault ever catch a message in flight.
const probability = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 }).map((pct) => pct / 100));
const delayArb: fc.Arbitrary<DelayDistribution> = fc
  .array(fc.integer({ min: 0, max: 200 }), { minLength: 4, maxLength: 4 })
  .map((ms) => {
    const [minMs, medianMs, tailMs, maxMs] = [...ms].sort((x, y) => x - y) as [number, number, number, number];
    return { minMs, medianMs, tailMs, maxMs };
  });
const faultsArb = (loss: fc.Arbitrary<number>): fc.Arbitrary<NetworkFaults> =>
  fc.record({ loss, duplicate: probability, delay: delayArb, disconnectOnPartition: fc.boolean() });

/** Action times in ms: a window comparable to the delays, so link faults hit messages in flight. */
const at = fc.integer({ min: 0, max: 300 });
const peer = fc.nat(PEERS.length - 1);
const sendArb: fc.Arbitrary<Action> = fc.record({ kind: fc.constant("send" as const), at, from: peer, to: peer });
const linkArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    kind: fc.constant("partition" as const),
    at,
    groupOf: fc.array(fc.nat(2), { minLength: PEERS.length, maxLength: PEERS.length }),
  }),
  fc.record({ kind: fc.constant("cut" as const), at, from: peer, to: peer }),
  fc.record({ kind: fc.constant("isolate" as const), at, peer }),
  fc.record({ kind: fc.constant("heal" as const), at }),
);
const scenarioArb = (loss: fc.Arbitrary<number>, actions: fc.Arbitrary<Action>): fc.Arbitrary<Scenario> =>
  fc.record({
    seed: fc.integer(),
    peers: fc.integer({ min: 2, max: PEERS.length }),
    faults: faultsArb(loss),
    actions: fc.array(actions, { maxLength: 80, size: "max" }),
  });

/** The test's own model of which directed links are blocked (the oracle). */
class LinkOracle {
  groupOf: Map<PeerId, number> | undefined;
  readonly cuts = new Set<string>();
  readonly isolated = new Set<PeerId>();
  blocked(from: PeerId, to: PeerId): boolean {
    const group = (p: PeerId) => this.groupOf?.get(p) ?? -1;
    return this.isolated.has(from) || this.isolated.has(to) || this.cuts.has(`${from}>${to}`) || group(from) !== group(to);
  }
}

interface Outcome {
  trace: NetworkEvent[];
  /** Receipts per message number (= index of its send action). */
  receipts: Map<number, number>;
  /** Sends made while the sender saw the addressee up. */
  sentWhileUp: Set<number>;
  violations: string[];
}

/** Runs a scenario to quiescence. Peer ids are wrapped into range; a send to self is dropped. */
async function run(scenario: Scenario): Promise<Outcome> {
  const clock = new VirtualClock();
  const trace: NetworkEvent[] = [];
  const net = new SimNetwork({ clock, rng: seededRng(scenario.seed), faults: scenario.faults, onEvent: (e) => trace.push(e) });
  const ids = PEERS.slice(0, scenario.peers);
  const id = (i: number) => ids[i % ids.length]!;
  const oracle = new LinkOracle();
  const receipts = new Map<number, number>();
  const sentWhileUp = new Set<number>();
  const blockedAtSend = new Set<number>();
  const violations: string[] = [];
  const transports = ids.map((self) => {
    const transport = net.join(self);
    transport.listen({
      message(from, bytes) {
        const msg = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
        receipts.set(msg, (receipts.get(msg) ?? 0) + 1);
        const action = scenario.actions[msg];
        if (action?.kind !== "send" || id(action.from) !== from || id(action.to) !== self) {
          violations.push(`message ${msg} reached ${self} from ${from}`);
        }
        if (oracle.blocked(from, self)) violations.push(`message ${msg} crossed the blocked link ${from}>${self} at ${clock.now()}`);
        if (blockedAtSend.has(msg)) violations.push(`message ${msg} was sent on the blocked link ${from}>${self}`);
      },
      up: () => {},
      down: () => {},
    });
    return transport;
  });
  await clock.advance(0);
  scenario.actions.forEach((action, msg) => {
    clock.setTimer(action.at, () => {
      switch (action.kind) {
        case "send": {
          const [from, to] = [id(action.from), id(action.to)];
          const sender = transports[action.from % ids.length]!;
          if (sender.peers().includes(to)) sentWhileUp.add(msg);
          if (oracle.blocked(from, to)) blockedAtSend.add(msg);
          const bytes = new Uint8Array(4);
          new DataView(bytes.buffer).setUint32(0, msg);
          sender.send(to, bytes);
          return;
        }
        case "partition": {
          const groups = [0, 1, 2].map((g) => ids.filter((_, i) => action.groupOf[i] === g));
          oracle.groupOf = new Map(ids.map((p, i) => [p, action.groupOf[i]!]));
          net.partition(groups);
          return;
        }
        case "cut":
          oracle.cuts.add(`${id(action.from)}>${id(action.to)}`);
          return net.cut(id(action.from), id(action.to));
        case "isolate":
          oracle.isolated.add(id(action.peer));
          return net.isolate(id(action.peer));
        case "heal":
          oracle.groupOf = undefined;
          oracle.cuts.clear();
          oracle.isolated.clear();
          return net.heal();
      }
    });
  });
  const quiet = await clock.runUntil(() => clock.pendingTimers() === 0, { maxSteps: 100_000 });
  if (!quiet) violations.push("did not reach quiescence");
  const stats = net.stats();
  if (stats.sent + stats.duplicated !== stats.delivered + stats.dropped) violations.push(`unbalanced stats ${JSON.stringify(stats)}`);
  return { trace, receipts, sentWhileUp, violations };
}

describe("SimNetwork properties", () => {
  it("without loss or link faults, every message between up peers arrives at least once (exactly once without duplication)", async () => {
    await checkProperty(
      fc.asyncProperty(scenarioArb(fc.constant(0), sendArb), async (scenario) => {
        const { receipts, sentWhileUp, violations } = await run(scenario);
        expect(violations).toEqual([]);
        const toOther = (a: Action) => a.kind === "send" && a.from % scenario.peers !== a.to % scenario.peers;
        const sends = scenario.actions.flatMap((a, msg) => (toOther(a) ? [msg] : []));
        expect([...sentWhileUp].sort()).toEqual(sends.sort());
        for (const msg of sends) {
          const n = receipts.get(msg) ?? 0;
          expect(n).toBeGreaterThanOrEqual(1);
          expect(n).toBeLessThanOrEqual(scenario.faults.duplicate === 0 ? 1 : 2);
        }
      }),
    );
  });

  it("nothing crosses a link that is blocked at send or at delivery time", async () => {
    await checkProperty(
      fc.asyncProperty(scenarioArb(probability, fc.oneof(sendArb, sendArb, linkArb)), async (scenario) => {
        expect((await run(scenario)).violations).toEqual([]);
      }),
    );
  });

  it("the same seed and schedule replay the identical trace", async () => {
    await checkProperty(
      fc.asyncProperty(scenarioArb(probability, fc.oneof(sendArb, linkArb)), async (scenario) => {
        const first = await run(scenario);
        const second = await run(scenario);
        expect(second.trace).toEqual(first.trace);
        expect(second.receipts).toEqual(first.receipts);
      }),
      { numRuns: propRuns(100) },
    );
  });
});
