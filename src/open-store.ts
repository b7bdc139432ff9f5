/**
 * `openStore`: the one entry point for every mode. The options' `mode` picks the consistency model.
 */
import { ConcordError } from "./errors.js";
import { openEventualStore, type EventualOptions, type EventualStore } from "./eventual/eventual-store.js";
import { openPrimaryStore, type PrimaryOptions, type PrimaryStore } from "./primary/primary-client.js";

/** Options of {@link openStore}; `mode` selects the variant. */
export type StoreOptions = EventualOptions | PrimaryOptions;

/**
 * Opens a store. Rejects with `InvalidArgument` for options that make no sense (each message says
 * which option and why), `Corrupt` when the stored document fails its checksums.
 *
 * Modes available in this version: `eventual` and `primary` (a client of `concord node` services,
 * `nodes: { primary, replicas }`). `strong` rejects with `InvalidArgument` until it ships.
 */
// The eventual overload stays last: `Parameters<typeof openStore>` and `ReturnType` read the last one.
export function openStore(options: PrimaryOptions): Promise<PrimaryStore>;
export function openStore(options: EventualOptions): Promise<EventualStore>;
export async function openStore(options: StoreOptions): Promise<EventualStore | PrimaryStore> {
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
      throw new ConcordError("InvalidArgument", `mode "${mode}" is not available in this version of concord-store; use "eventual" or "primary"`);
    default:
      throw new ConcordError("InvalidArgument", `mode must be "eventual", "primary" or "strong", got ${JSON.stringify(mode)}`);
  }
}
