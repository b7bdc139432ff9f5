// Empties dist/ before a build: tsc never deletes the output of a source file that was moved or
// removed, and such leftovers would otherwise ship in the package.
import { rmSync } from "node:fs";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
