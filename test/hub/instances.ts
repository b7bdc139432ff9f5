/**
 * Scale-out fixtures: `n` sync server instances in this process over shared engines (the in-memory
 * twins, or real Redis and PostgreSQL), each on its own loopback port.
 */
import type { PresenceBus } from "../../src/hub/presence-bus.js";
import { scaleOutOver, type ScaleOutSettings } from "../../src/hub/scale-out.js";
import type { SharedLog } from "../../src/hub/shared-log.js";
import type { SnapshotStore } from "../../src/hub/snapshot-store.js";
import { awarenessState, connect, hasValue, start, synced, type Running } from "../server/fixtures.js";

export interface Engines {
  readonly log: SharedLog;
  readonly bus: PresenceBus;
  readonly snapshots: SnapshotStore;
}

/** Starts instance `name` over `engines` (closed with the server). */
export function startInstance(name: string, engines: Engines, settings: Partial<ScaleOutSettings> = {}): Promise<Running> {
  return start({
    persistence: undefined,
    idleUnloadMs: 50,
    scaleOut: scaleOutOver(engines, { instance: name, heartbeatMs: 100, compaction: false, onLog: () => undefined, ...settings }),
  });
}

/** A stock client on each instance in `room`: each one's edit and presence reach all the others. */
export async function editsAndPresenceReachAll(instances: readonly Running[], room: string): Promise<void> {
  const clients = instances.map((i) => connect(i.server, room));
  await Promise.all(clients.map(synced));
  clients.forEach((c, i) => c.map.set(`from-${i}`, i));
  for (const c of clients) for (let i = 0; i < clients.length; i++) await hasValue(c, `from-${i}`, i);
  clients.forEach((c, i) => c.provider.awareness.setLocalState({ user: `u${i}` }));
  for (const c of clients) {
    await awarenessState(c, "everyone's presence", () =>
      clients.every((_, i) => [...c.provider.awareness.getStates().values()].some((s) => s["user"] === `u${i}`)),
    );
  }
}
