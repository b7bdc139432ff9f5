/**
 * `npm run bench [-- name...]`: runs the named benchmarks (all when none is named).
 * Each prints a table with ratios against a baseline measured in the same run and writes JSON to
 * bench/results/.
 */
const BENCHES: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  "eventual-local": () => import("./eventual-local.js"),
  sync: () => import("./sync.js"),
  "retained-heap": () => import("./retained-heap.js"),
  "raft-core": () => import("./raft-core.js"),
  primary: () => import("./primary.js"),
  strong: () => import("./strong.js"),
  demo: () => import("./demo.js"),
};

const names = process.argv.slice(2);
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")}`);
  process.exit(2);
}
for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
  const bench = await BENCHES[name]!();
  await bench.run();
}
