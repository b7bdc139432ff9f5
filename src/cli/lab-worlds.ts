/**
 * The three modes' simulated worlds, wired into `concord lab` (src/lab/ imports no mode: each mode
 * plugs in through the `LabWorld` port, and this is where they meet). Planted bugs by mode:
 * `strong`: `local-reads`, `early-acks`; `primary`: `unfenced`.
 */
import type { WorldFactory } from "../lab/lab.js";
import { EventualWorld } from "../eventual/lab-world.js";
import { PrimaryWorld } from "../primary/lab-world.js";
import { StrongWorld } from "../strong/lab-world.js";
import { PLANTED_BUGS, type PlantedBug } from "../strong/planted-bugs.js";
import { ConcordError } from "../errors.js";

/** The bugs each mode can have planted. */
export const LAB_BUGS: Readonly<Record<string, readonly string[]>> = { eventual: [], primary: ["unfenced"], strong: PLANTED_BUGS };

/** The world of each mode (see the module comment). @throws ConcordError `InvalidArgument` for a bug the mode does not have. */
export const labWorlds: WorldFactory = (mode, { seed, size, bug }) => {
  if (bug !== undefined && !(LAB_BUGS[mode] ?? []).includes(bug)) {
    throw new ConcordError("InvalidArgument", `no planted bug ${JSON.stringify(bug)} in ${mode} mode (${(LAB_BUGS[mode] ?? []).join(", ") || "none"})`, { mode, bug });
  }
  switch (mode) {
    case "eventual":
      return new EventualWorld({ seed, size });
    case "primary":
      return new PrimaryWorld(bug === undefined ? { seed, size } : { seed, size, bug: "unfenced" });
    case "strong":
      return new StrongWorld(bug === undefined ? { seed, size } : { seed, size, bug: bug as PlantedBug });
  }
};
