/**
 * A strong-mode node process with a bug planted (`planted-bugs.ts`), for the real-process checks
 * (the Jepsen-style tests, `concord lab --real --plant`) to prove the checker catches it: the same
 * server as `concord node --mode strong` (`serveNode` over a Raft node on files), its engine swapped
 * for the buggy one. Never started by anything else.
 *
 * Usage: node dist/strong/planted-node.js '<json>' where the JSON holds
 * { id, port, dataDir, peers: { id: url }, heartbeatMs, electionMs, bug }. Prints the same ready
 * line as `concord node`.
 */
import { atLeast, stderrLogSink } from "../ops/log.js";
import { serveNode } from "../service/node-server.js";
import { strongEngine } from "./strong-engine.js";
import { engineWith, type PlantedBug } from "./planted-bugs.js";

interface Args {
  readonly id: string;
  readonly port: number;
  readonly dataDir: string;
  readonly peers: Record<string, string>;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly bug: PlantedBug;
}

const a = JSON.parse(process.argv[2] ?? "") as Args;
const real = strongEngine({ tickMs: a.heartbeatMs, electionTicks: a.electionMs / a.heartbeatMs, heartbeatTicks: 1, bootstrap: Object.keys(a.peers).sort() });
const server = await serveNode({
  id: a.id,
  port: a.port,
  dataDir: a.dataDir,
  peers: new Map(Object.entries(a.peers).filter(([id]) => id !== a.id)),
  log: atLeast("warn", stderrLogSink),
  engine: async (ctx) => engineWith((await real(ctx)).node, a.bug),
});
process.stdout.write(`concord node: ${a.id} listening on ${server.url} as a strong-mode member with the planted bug ${a.bug}\n`);
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
