/**
 * `openStore`: the one entry point for every mode. The options' `mode` picks the consistency model.
 */
import { ConcordError } from "./errors.js";
import { openEventualStore, type EventualOptions, type EventualStore } from "./eventual/eventual-store.js";

/** Options of {@link openStore}; `mode` selects the variant. */
export type StoreOptions = EventualOptions;

/**
 * Opens a store. Rejects with `InvalidArgument` for options that make no sense (each message says
 * which option and why), `Corrupt` when the stored document fails its checksums.
 *
 * Modes available in this version: `eventual`. `primary` and `strong` reject with `InvalidArgument`
 * until they ship.
 */
export function openStore(options: EventualOptions): Promise<EventualStore>;
export async function openStore(options: StoreOptions): Promise<EventualStore> {
  if (typeof options !== "object" || options === null) {
    throw new ConcordError("InvalidArgument", "openStore needs an options object: { mode, doc, persistence }");
  }
  const mode: unknown = (options as { mode?: unknown }).mode;
  switch (mode) {
    case "eventual":
      return openEventualStore(options);
    case "primary":
    case "strong":
      throw new ConcordError("InvalidArgument", `mode "${mode}" is not available in this version of concord-store; use "eventual"`);
    default:
      throw new ConcordError("InvalidArgument", `mode must be "eventual", "primary" or "strong", got ${JSON.stringify(mode)}`);
  }
}
