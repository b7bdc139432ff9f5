/**
 * What every Concord HTTP endpoint does the same way (the sync server of `server/server.ts`, the node
 * server of `service/node-server.ts`): listen with a `ConcordError` a person can act on, name
 * itself as a ws:// URL, and answer small HTTP requests.
 */
import type { Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ConcordError } from "../errors.js";

/**
 * Starts `http` listening on `host:port` and resolves with the port listened on (the one picked
 * when `port` was 0) and the endpoint's URL (`ws://host:port`, `wss://` when `tls`). Later server
 * errors are the caller's to log.
 * @throws ConcordError `Io` when the address can't be listened on (port in use, no such interface,
 *   permission denied), naming the address and the system's code.
 */
export async function listenOn(http: Server, host: string, port: number, tls = false): Promise<{ readonly port: number; readonly url: string }> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const code = error.code ?? "error";
      reject(new ConcordError("Io", `could not listen on ${host}:${port}: ${code} (${error.message})`, { host, port, code }, { cause: error }));
    };
    http.once("error", onError);
    http.listen(port, host, () => {
      http.off("error", onError);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  const shownHost = address.family === "IPv6" || host.includes(":") ? `[${host}]` : host;
  return { port: address.port, url: `${tls ? "wss" : "ws"}://${shownHost}:${address.port}` };
}

/** The path of a request URL, without its query (which may hold a token) or fragment. */
export function pathOf(requestUrl: string | undefined): string {
  return (requestUrl ?? "").split(/[?#]/, 1)[0] ?? "";
}

/** Answers `status` with `body` (no body for HEAD), never cached. */
export function respond(res: ServerResponse, method: string, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(method === "HEAD" ? undefined : body);
}

/**
 * True when queueing `bytes` more on `socket` would take what waits to be sent to it past
 * `maxBufferedBytes`: a client reading slower than it is written to, to be closed (1013) rather
 * than buffered for without bound. A socket with nothing waiting always takes one more message.
 */
export function wouldOverflow(socket: { readonly bufferedAmount: number }, bytes: number, maxBufferedBytes: number): boolean {
  const buffered = socket.bufferedAmount;
  return buffered > 0 && buffered + bytes > maxBufferedBytes;
}
