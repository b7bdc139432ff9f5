/**
 * One simulated schedule of `primary` mode: the steps fast-check draws, and how to play them on a
 * {@link PrimaryWorld} (which checks the properties after every event), ending with a heal after
 * which the group must converge. Shared by the property test and the named regressions.
 */
import type { PrimaryDurability } from "../../../src/primary/replication/types.js";
import { PrimaryWorld } from "./primary-world.js";

export type Step =
  | { readonly kind: "write"; readonly toNewest: boolean; readonly at: number; readonly durability: 0 | 1 | 2 }
  | { readonly kind: "burst"; readonly writes: number; readonly durability: 0 | 1 | 2 }
  | { readonly kind: "run"; readonly ms: number }
  | { readonly kind: "crash"; readonly node: number }
  | { readonly kind: "restart"; readonly node: number }
  | { readonly kind: "isolate"; readonly node: number }
  | { readonly kind: "cut"; readonly from: number; readonly to: number }
  | { readonly kind: "heal" }
  | { readonly kind: "promote"; readonly node: number }
  | { readonly kind: "session"; readonly node: number; readonly timeoutMs: number }
  | { readonly kind: "faults"; readonly loss: number; readonly duplicate: number };

export interface Scenario {
  readonly seed: number;
  readonly size: number;
  readonly backlog: number;
  readonly steps: readonly Step[];
}

const DURABILITY: readonly PrimaryDurability[] = ["local", { replicas: 1 }, { replicas: 2 }];
/** Virtual ms after the final heal within which the group must converge. */
const CONVERGE_MS = 30_000;

/** Plays `s`; throws the first violation (or a liveness failure after the final heal). */
export async function runScenario(s: Scenario): Promise<PrimaryWorld> {
  const w = new PrimaryWorld({ seed: s.seed, size: s.size, backlogRecords: s.backlog, faults: { disconnectOnPartition: true } });
  await w.start();
  await w.advance(100);
  for (const st of s.steps) {
    switch (st.kind) {
      case "write": {
        const target = st.toNewest ? w.newestPrimary() : w.nodes[st.at]!;
        w.write(target, DURABILITY[st.durability]!);
        break;
      }
      case "burst":
        for (let i = 0; i < st.writes; i++) w.write(w.newestPrimary(), DURABILITY[st.durability]!);
        break;
      case "run":
        await w.advance(st.ms);
        break;
      case "crash":
        w.crash(w.nodes[st.node]!);
        break;
      case "restart":
        await w.open(w.nodes[st.node]!);
        break;
      case "isolate":
        w.net.isolate(w.nodes[st.node]!.id);
        w.note(`isolate ${w.nodes[st.node]!.id}`);
        break;
      case "cut":
        if (st.from !== st.to) {
          w.net.cut(w.nodes[st.from]!.id, w.nodes[st.to]!.id);
          w.note(`cut ${w.nodes[st.from]!.id} -> ${w.nodes[st.to]!.id}`);
        }
        break;
      case "heal":
        w.net.heal();
        w.note("heal");
        break;
      case "promote":
        await w.promote(w.nodes[st.node]!);
        break;
      case "session": {
        const lastAcked = [...w.writes].reverse().find((x) => x.status === "acked");
        if (lastAcked !== undefined) await w.sessionRead(w.nodes[st.node]!, lastAcked, st.timeoutMs);
        await w.monotonicRead(w.nodes[st.node]!, st.timeoutMs);
        break;
      }
      case "faults":
        w.net.setFaults({ loss: st.loss, duplicate: st.duplicate });
        break;
    }
    w.assertNoViolation();
  }
  // Heal everything; the group must converge on one primary with equal logs and states.
  w.net.heal();
  w.net.setFaults({ loss: 0, duplicate: 0 });
  for (const n of w.nodes) await w.open(n);
  await w.clock.runUntil(() => w.converged() || w.violation !== null, { maxMs: CONVERGE_MS });
  w.assertNoViolation();
  if (!w.converged()) {
    const status = w.nodes.map((n) => `${n.id} ${JSON.stringify(n.node?.status())} log ${n.log.length}`).join("\n");
    w.fail(`liveness: the group did not converge within ${CONVERGE_MS} virtual ms of the heal\n${status}`);
  }
  w.assertNoViolation();
  if (w.errors.length > 0) throw w.errors[0];
  return w;
}

