/**
 * `concord node` as a child process for the CLI tests: the BUILT CLI (`npm test` builds first) on
 * loopback, real files, raw client sockets speaking the client protocol through its codec. Every
 * wait ends on an event (a line of output, an answer) bounded by the reliability harness's timeout.
 */
import { onCleanup, spawnChild, type Child } from "../reliability/harness.js";
import { connectClient, type NodeClient } from "../service/node-client.js";

export interface NodeProcess extends Child {
  readonly url: string;
  /** The line it printed once serving. */
  readonly started: string;
}

/** Starts `concord node ...args` and resolves once it printed where it listens. */
export async function startNode(args: readonly string[]): Promise<NodeProcess> {
  const proc = spawnChild(["dist/cli/main.js", "node", ...args], `concord node ${args.join(" ")}`);
  const started = await proc.line(/^concord node: \S+ listening on ws:\/\/\S+ as /, 0, '"listening on"');
  return { ...proc, url: /listening on (ws:\/\/\S+) /.exec(started)![1]!, started };
}

/** A raw client of `<url>/client`, terminated at cleanup. */
export async function client(url: string): Promise<NodeClient> {
  const c = await connectClient(url);
  onCleanup(() => c.ws.terminate());
  return c;
}

/** The node's `GET /healthz` body. */
export async function health(url: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${url.replace(/^ws:/, "http:")}/healthz`)).json()) as Record<string, unknown>;
}
