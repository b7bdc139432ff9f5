/**
 * Scale-out fixtures: `n` sync server instances in this process over shared engines (the in-memory
 * twins, or real Redis and PostgreSQL), each on its own loopback port.
 */
import type { PresenceBus } from "../../src/hub/presence-bus.js";
import { scaleOutOver, type ScaleOutSettings } from "../../src/hub/scale-out.js";
import type { SharedLog } from "../../src/hub/shared-log.js";
import type { SnapshotStore } from "../../src/hub/snapshot-store.js";
import { start, type Running } from "../server/fixtures.js";

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
