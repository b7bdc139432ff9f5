/**
 * `openStore`: the one entry point for every mode. The options' `mode` picks the consistency model.
 */
import { ConcordError } from "./errors.js";
import { openEventualStore, type EventualOptions, type EventualStore } from "./eventual/eventual-store.js";
import { openPrimaryStore, type PrimaryOptions, type PrimaryStore } from "./primary/primary-client.js";
import { openStrongStore, type StrongOptions, type StrongStore } from "./strong/strong-client.js";

/** Options of {@link openStore}; `mode` selects the variant. */
export type StoreOptions = EventualOptions | PrimaryOptions | StrongOptions;

/**
 * Opens a store. Rejects with `InvalidArgument` for options that make no sense (each message says
 * which option and why), `Corrupt` when the stored document fails its checksums.
 *
 * Modes: `eventual` (a CRDT document on this device, synced with peers), `primary` (a client of a
 * group of `concord node` services, `nodes: { primary, replicas }`) and `strong` (a client of a
 * Raft cluster of `concord node --mode strong` servers, `nodes: [url...]`).
 */
// The eventual overload stays last: `Parameters<typeof openStore>` and `ReturnType` read the last one.
export function openStore(options: StrongOptions): Promise<StrongStore>;
export function openStore(options: PrimaryOptions): Promise<PrimaryStore>;
export function openStore(options: EventualOptions): Promise<EventualStore>;
export async function openStore(options: StoreOptions): Promise<EventualStore | PrimaryStore | StrongStore> {
  if (typeof options !== "object" || options === null) {
    throw new ConcordError("InvalidArgument", "openStore needs an options object: { mode, doc, persistence }");
  }
  const mode: unknown = (options as { mode?: unknown }).mode;
  switch (mode) {
    case "eventual":
      return openEventualStore(options as EventualOptions);
    case "primary":
      return openPrimaryStore(options as PrimaryOptions);
    case "strong":
      return openStrongStore(options as StrongOptions);
    default:
      throw new ConcordError("InvalidArgument", `mode must be "eventual", "primary" or "strong", got ${JSON.stringify(mode)}`);
  }
}
