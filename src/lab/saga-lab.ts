/**
 * The lab's saga scenario (`concord lab --scenario saga-crash`): sagas of three steps (reserve the
 * stock, charge the payment, ship; a deterministic share of shipments refused by the carrier) run
 * against one mode's store by a {@link SagaCoordinator} whose log is on a simulated disk; mid-way
 * the coordinator's process loses power (what its disk had not synced is lost), and a new one is
 * started on the same disk later and resumes. At the end every saga must have ended, completed
 * with all three steps in the store or compensated with none of them left, whatever the crash cut.
 */
import { isConcordError } from "../errors.js";
import { asDocId } from "../ids.js";
import { seededRng } from "../rng.js";
import { SagaCoordinator, type SagaStep } from "../saga/saga-coordinator.js";
import type { SagaOutcome } from "../saga/saga-log.js";
import { SimDisk } from "../sim/sim-disk.js";
import { fileStorage } from "../storage/file-storage.js";
import { drive, type LabClient, type LabMode, type LabWorld } from "./world.js";

export interface SagaLabOptions {
  readonly seed: number;
  /** Sagas started, one every `spacingMs`. */
  readonly sagas: number;
  readonly spacingMs: number;
  /** When the coordinator crashes, and how long it stays down (virtual ms). */
  readonly crashAtMs: number;
  readonly downMs: number;
  /** Share of sagas whose shipment the carrier refuses (they must compensate). */
  readonly refuseShare: number;
}

export interface SagaLabReport {
  readonly mode: LabMode;
  readonly sagas: number;
  readonly completed: number;
  readonly compensated: number;
  /** Sagas that never ended (0 when the property holds). */
  readonly unfinished: number;
  /** Sagas whose store does not show what their outcome says, with why (empty when the property holds). */
  readonly inconsistent: readonly string[];
  /** Sagas the crash caught under way (begun, not ended, when the power went). */
  readonly cutByCrash: number;
  /** Virtual ms from the first start until every saga ended. */
  readonly durationMs: number;
}

const DONE = { stock: "held", pay: "charged", ship: "shipped" } as const;
const UNDONE = { stock: "released", pay: "refunded", ship: "cancelled" } as const;
type Part = keyof typeof DONE;

/** The `order` saga over `client`; `refused(saga)` says whether the carrier refuses its shipment. */
function orderSaga(client: LabClient, refused: (saga: string) => boolean): SagaStep[] {
  const step = (part: Part, fails?: (saga: string) => boolean): SagaStep => ({
    name: part,
    run: async (ctx) => {
      if (fails?.(ctx.saga) === true) throw new Error(`the carrier refused ${ctx.saga}`);
      await client.set(`${part}/${ctx.saga}`, DONE[part]);
    },
    compensate: async (ctx) => {
      await client.set(`${part}/${ctx.saga}`, UNDONE[part]);
    },
  });
  return [step("stock"), step("pay"), step("ship", refused)];
}

/** Runs the saga scenario on `world` (see the module comment). */
export async function runSagaLab(world: LabWorld, o: SagaLabOptions): Promise<SagaLabReport> {
  const clock = world.clock;
  const rng = seededRng(o.seed);
  await world.start();
  const client = await world.connect("saga-coordinator", 0);
  const ids = Array.from({ length: o.sagas }, (_, i) => `order-${i + 1}`);
  const refusedSet = new Set(ids.filter(() => rng.next() < o.refuseShare));
  const sagas = { order: orderSaga(client, (s) => refusedSet.has(s)) };
  const disk = new SimDisk({ rng: rng.fork(), clock, latencyMs: { min: 0.05, max: 1.5 } });
  const open = async (): Promise<SagaCoordinator> =>
    SagaCoordinator.open({ storage: await fileStorage("/sagas", { fs: disk.mount(), clock, fsync: "always" }).open(asDocId("sagas")), sagas, clock, retryMs: 50 });

  const t0 = clock.now();
  let coordinator = await drive(clock, open(), 60_000, "opening the saga coordinator");
  const startNext = (c: SagaCoordinator, i: number): void => {
    const id = ids[i]!;
    c.start("order", id).catch((e: unknown) => {
      if (!isConcordError(e)) throw e;
    });
  };
  let next = 0;
  let crashed = false;
  let cutByCrash = 0;
  const tick = (): void => {
    if (crashed || next >= ids.length) return;
    startNext(coordinator, next++);
    clock.setTimer(o.spacingMs, tick);
  };
  tick();
  await clock.advance(o.crashAtMs);
  // Power cut: the coordinator's process is gone, and so is whatever its disk had not synced.
  crashed = true;
  cutByCrash = coordinator.unfinished().length;
  coordinator.close();
  disk.crash();
  await clock.advance(o.downMs);
  coordinator = await drive(clock, open(), 60_000, "reopening the saga coordinator");
  const c = coordinator;
  // Sagas whose begin never reached the disk were never started, as far as anyone knows: start them.
  const resumed = drive(clock, c.resume(), 600_000, "resuming the sagas");
  for (let i = 0; i < ids.length; i++) if (c.status(ids[i]!) === undefined) startNext(c, i);
  await resumed;
  await clock.runUntil(() => ids.every((id) => c.status(id)?.outcome !== undefined && c.status(id)?.outcome !== null), { maxMs: 600_000 });
  const durationMs = clock.now() - t0;

  // What the store shows, once the nodes agree.
  world.heal();
  const reader = world.leader() ?? 0;
  await clock.runUntil(() => {
    const states = world.nodes.map((_, i) => world.state(i));
    return states.every((s) => s !== null && ids.every((id) => (["stock", "pay", "ship"] as const).every((p) => (s.get(`${p}/${id}`) ?? null) === (states[0]!.get(`${p}/${id}`) ?? null))));
  }, { maxMs: 60_000 });
  const state = world.state(reader) ?? new Map<string, string | null>();
  const inconsistent: string[] = [];
  let completed = 0;
  let compensated = 0;
  for (const id of ids) {
    const outcome: SagaOutcome | null | undefined = c.status(id)?.outcome;
    const shows = (["stock", "pay", "ship"] as const).map((p) => [p, state.get(`${p}/${id}`) ?? null] as const);
    if (outcome === "completed") {
      completed++;
      const wrong = shows.filter(([p, v]) => v !== DONE[p]);
      if (wrong.length > 0) inconsistent.push(`${id} completed but ${wrong.map(([p, v]) => `${p} is ${v ?? "absent"}`).join(", ")}`);
    } else if (outcome === "compensated") {
      compensated++;
      const wrong = shows.filter(([p, v]) => v !== null && v !== UNDONE[p]);
      if (wrong.length > 0) inconsistent.push(`${id} compensated but ${wrong.map(([p, v]) => `${p} is ${v}`).join(", ")}`);
    }
  }
  return {
    mode: world.mode,
    sagas: ids.length,
    completed,
    compensated,
    unfinished: ids.length - completed - compensated,
    inconsistent,
    cutByCrash,
    durationMs,
  };
}
