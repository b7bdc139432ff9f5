/**
 * One request to a running node over its client endpoint (`<url>/client`), on a fresh connection:
 * what `concord promote` and `concord admin` send, and the lab's sentinels. The connection opens
 * with the protocol's hello.
 */
import { WebSocket } from "ws";
import { ConcordError } from "../errors.js";
import type { Request, Response } from "../service/protocol.js";
import { decodeResponse, encodeRequest } from "../service/protocol-codec.js";

/** A request before it gets its id. */
export type OneRequest = Request extends infer R ? (R extends Request ? Omit<R, "id"> : never) : never;

/**
 * Sends `req` on a fresh connection to `endpoint` (with `token`, for a node with an auth file) and
 * resolves with its answer (an `error` included).
 */
export function requestOnce(endpoint: string, req: OneRequest, timeoutMs: number, token?: string): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const ws = new WebSocket(token === undefined ? endpoint : `${endpoint}?token=${encodeURIComponent(token)}`);
    const fail = (error: ConcordError): void => {
      clearTimeout(timer);
      ws.terminate();
      reject(error);
    };
    const timer = setTimeout(() => fail(new ConcordError("Timeout", `no answer from ${endpoint} within ${timeoutMs} ms`)), timeoutMs);
    ws.binaryType = "nodebuffer";
    ws.on("open", () => {
      ws.send(encodeRequest({ type: "hello", id: 1 }));
      ws.send(encodeRequest({ ...req, id: 2 } as Request));
    });
    ws.on("message", (data: Buffer) => {
      let r: Response;
      try {
        r = decodeResponse(data);
      } catch (e) {
        fail(e instanceof ConcordError ? e : new ConcordError("Protocol", String(e)));
        return;
      }
      if (r.type === "changes" || r.id !== 2) return;
      clearTimeout(timer);
      ws.close(1000);
      resolve(r);
    });
    ws.on("error", (e) => fail(new ConcordError("Unavailable", `cannot reach ${endpoint}: ${e.message}`)));
    ws.on("close", (code, reason) => {
      const why = `${endpoint} closed the connection (${code} ${reason.toString("utf8")}) before answering`;
      fail(new ConcordError(code === 4401 || code === 4403 ? "Unauthorized" : "Unavailable", code === 4401 ? `${why}: give an admin token with --token` : why));
    });
  });
}
