/**
 * The three modes' worlds, simulated and of real processes, wired into `concord lab` (src/lab/
 * imports no mode: each mode plugs in through the `LabWorld` port, and this is where they meet).
 * Planted bugs by mode: `strong`: `local-reads`, `early-acks` (also on real processes);
 * `primary`: `unfenced` (simulated only).
 */
import { fileURLToPath } from "node:url";
import type { WorldFactory } from "../lab/lab.js";
import { RealEventualWorld } from "../eventual/real-lab-world.js";
import { RealPrimaryWorld } from "../primary/real-lab-world.js";
import { RealStrongWorld } from "../strong/real-lab-world.js";
import { EventualWorld } from "../eventual/lab-world.js";
import { PrimaryWorld } from "../primary/lab-world.js";
import { StrongWorld } from "../strong/lab-world.js";
import { PLANTED_BUGS, type PlantedBug } from "../strong/planted-bugs.js";
import { ConcordError } from "../errors.js";

/** The bugs each mode can have planted. */
export const LAB_BUGS: Readonly<Record<string, readonly string[]>> = { eventual: [], primary: ["unfenced"], strong: PLANTED_BUGS };

/** The world of each mode (see the module comment). @throws ConcordError `InvalidArgument` for a bug the mode does not have. */
export const labWorlds: WorldFactory = (mode, { seed, size, bug }) => {
  checkBug(LAB_BUGS, mode, bug);
  switch (mode) {
    case "eventual":
      return new EventualWorld({ seed, size });
    case "primary":
      return new PrimaryWorld(bug === undefined ? { seed, size } : { seed, size, bug: "unfenced" });
    case "strong":
      return new StrongWorld(bug === undefined ? { seed, size } : { seed, size, bug: bug as PlantedBug });
  }
};

/** The bugs each mode can have planted on real processes. */
export const REAL_LAB_BUGS: Readonly<Record<string, readonly string[]>> = { eventual: [], primary: [], strong: PLANTED_BUGS };

/**
 * The worlds of real processes, each node a process of the built CLI at `cli` (its `main.js`; the
 * planted strong node and the eventual replica are its siblings' files).
 */
export function realWorldsAt(cli: string): WorldFactory {
  return (mode, { seed, size, bug }) => {
    checkBug(REAL_LAB_BUGS, mode, bug);
    switch (mode) {
      case "eventual":
        return new RealEventualWorld({ seed, size, cli });
      case "primary":
        return new RealPrimaryWorld({ seed, size, cli });
      case "strong":
        return new RealStrongWorld(bug === undefined ? { seed, size, cli } : { seed, size, cli, bug: bug as PlantedBug });
    }
  };
}

/** The worlds of real processes of this build (`concord lab --real`). */
export const realLabWorlds: WorldFactory = realWorldsAt(fileURLToPath(new URL("./main.js", import.meta.url)));

function checkBug(bugs: Readonly<Record<string, readonly string[]>>, mode: string, bug: string | undefined): void {
  if (bug !== undefined && !(bugs[mode] ?? []).includes(bug)) {
    throw new ConcordError("InvalidArgument", `no planted bug ${JSON.stringify(bug)} in ${mode} mode (${(bugs[mode] ?? []).join(", ") || "none"})`, { mode, bug });
  }
}
