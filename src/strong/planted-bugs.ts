/**
 * Bugs planted on purpose in a strong-mode node, to prove the linearizability checker catches what
 * it guards against, in the simulation and on real processes: each is a {@link StrongEngine} that
 * cuts one corner.
 */
import { StrongEngine } from "./strong-engine.js";
import type { RaftNode } from "./raft-node.js";

/**
 * `"local-reads"`: linearizable reads served from the serving node's state, without a ReadIndex
 * round. `"early-acks"`: a write acknowledged as soon as the leader proposed it, before it commits.
 */
export type PlantedBug = "local-reads" | "early-acks";

export const PLANTED_BUGS: readonly PlantedBug[] = ["local-reads", "early-acks"];

/** The engine over `node`, with `bug` planted (none: the real one). */
export function engineWith(node: RaftNode, bug: PlantedBug | undefined): StrongEngine {
  return bug === "local-reads" ? new LocalReadsEngine(node) : bug === "early-acks" ? new EarlyAcksEngine(node) : new StrongEngine(node);
}

/**
 * A write acknowledged once proposed (as if it had committed at the next index), its conditions
 * taken as holding on the node's state as it is.
 */
class EarlyAcksEngine extends StrongEngine {
  override async write(w: Parameters<StrongEngine["write"]>[0]): ReturnType<StrongEngine["write"]> {
    const committed = super.write(w);
    committed.catch(() => undefined);
    const st = this.node.status();
    if (st.role !== "leader") return committed;
    const view = this.view(w.doc);
    const succeeded = w.conditions.every((c) => (c.test === "absent" ? view.get(c.key) === undefined : c.test === "present" ? view.get(c.key) !== undefined : JSON.stringify(view.get(c.key)) === JSON.stringify(c.value)));
    return { position: { epoch: st.term, lsn: st.lastIndex + 1 }, replicas: [], succeeded };
  }
}

/** "Linearizable" reads served from the node's state, without a ReadIndex round. */
class LocalReadsEngine extends StrongEngine {
  override readable(read: Parameters<StrongEngine["readable"]>[0]): Promise<void> | undefined {
    return super.readable({ ...read, consistency: "local", maxStalenessMs: null });
  }
}
