/**
 * Who gets into a room: the token check of a new connection (from `?token=` or from a first
 * `concord-auth` message), and reloading the token table while connections are open.
 *
 * A connection without `?token=` on a server with auth is held, unadmitted, until its first
 * frame: a `concord-auth` message carries the token; anything else, or nothing within
 * `timeoutMs`, is refused with 4401. Nothing a held connection sends reaches a room before it is
 * admitted (frames after the first wait in the connection's queue, the socket paused).
 */
import type { CancelTimer, Clock } from "../clock.js";
import { ConcordError, isConcordError } from "../errors.js";
import { decodeMessage } from "../eventual/sync/protocol.js";
import { authorize, loadAuthFile, tokenOf, type Access, type AuthConfig } from "../ops/auth.js";
import type { ServerLog } from "../ops/log.js";
import type { ServerMetrics } from "./metrics.js";
import { CloseCode } from "./rooms.js";
import type { PeerId } from "../ids.js";

/** Default wait for the first message of a connection that sent no `?token=`: 10 s. */
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;

/**
 * What admission needs of a client connection (`SocketConnection` is one). Named here rather than
 * taken from the socket class so that the server's public declarations never reach the `ws` types.
 */
export interface AdmissionConnection {
  readonly peer: PeerId;
  /** Hands the connection's first frame to `take` instead of its room. */
  takeFirstFrame(take: (bytes: Uint8Array) => void): void;
  onClosed(fn: () => void): void;
  close(code: number, reason: string): void;
}

/** What a reload did. */
export interface AuthReload {
  /** Tokens in the new table. */
  readonly tokens: number;
  /** Open connections closed because the new table no longer lets them in, or changed their access. */
  readonly closed: number;
}

interface Admitted {
  readonly doc: string;
  readonly token: string;
  readonly access: Access;
}

/** The gate between an upgraded WebSocket and its room. */
export class Admission {
  #auth: AuthConfig | undefined;
  readonly #admitted = new Map<AdmissionConnection, Admitted>();

  constructor(
    auth: AuthConfig | undefined,
    /** The file `auth` came from, re-read by {@link reload}; undefined when given as an object. */
    private readonly authFile: string | undefined,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly log: ServerLog,
    private readonly metrics: ServerMetrics,
  ) {
    this.#auth = auth;
  }

  /** True when connections need a token. */
  get enabled(): boolean {
    return this.#auth !== undefined;
  }

  /**
   * Decides on `connection` to `doc`: calls `admit` with its access (at once, or once its first
   * message brought a token), or closes it with 4401/4403 and never calls `admit`.
   */
  check(connection: AdmissionConnection, doc: string, requestUrl: string | undefined, remote: string | undefined, admit: (access: Access) => void): void {
    if (this.#auth === undefined) {
      admit("read-write");
      return;
    }
    const fromQuery = tokenOf(requestUrl);
    if (fromQuery !== undefined) {
      this.#decide(connection, doc, fromQuery, remote, admit);
      return;
    }
    let cancel: CancelTimer | undefined = this.clock.setTimer(this.timeoutMs, () => {
      cancel = undefined;
      this.#refuse(connection, doc, remote, "unauthorized", `unauthorized: no token within ${this.timeoutMs} ms (send ?token=... or a concord-auth message first)`);
    });
    connection.takeFirstFrame((bytes) => {
      if (cancel === undefined) return; // timed out already
      cancel();
      cancel = undefined;
      let token: string | undefined;
      try {
        const first = decodeMessage(bytes);
        if (first.type === "concord-auth") token = first.token;
      } catch (error) {
        if (!isConcordError(error)) throw error;
      }
      this.#decide(connection, doc, token, remote, admit);
    });
    connection.onClosed(() => {
      cancel?.();
      cancel = undefined;
    });
  }

  /** The connection closed: forget its grant. */
  forget(connection: AdmissionConnection): void {
    this.#admitted.delete(connection);
  }

  /**
   * Re-reads the auth file, then closes every open connection the new table refuses (4401 or
   * 4403, no retry) or gives another access (1012, service restart: it reconnects and gets the new
   * access). A file that can't be read or parsed changes nothing.
   * @throws ConcordError `InvalidArgument` when the server has no auth file, or the file is bad
   *   (naming the file and the problem); the old table stays in force.
   */
  reload(): AuthReload {
    const file = this.authFile;
    if (file === undefined) {
      throw new ConcordError("InvalidArgument", "reloadAuth: the server was not started with an auth file to re-read");
    }
    const next = loadAuthFile(file);
    this.#auth = next;
    let closed = 0;
    for (const [connection, grant] of [...this.#admitted]) {
      const decision = authorize(next, grant.token, grant.doc);
      if (decision.kind === "allowed" && decision.access === grant.access) continue;
      closed++;
      this.#admitted.delete(connection);
      if (decision.kind === "allowed") connection.close(CloseCode.serviceRestart, `access changed to ${decision.access}: reconnect`);
      else connection.close(decision.kind === "unauthorized" ? CloseCode.unauthorized : CloseCode.forbidden, decision.reason);
    }
    const tokens = Object.keys(next.tokens).length;
    this.log.info("auth.reloaded", { file, tokens, closed });
    return { tokens, closed };
  }

  #decide(connection: AdmissionConnection, doc: string, token: string | undefined, remote: string | undefined, admit: (access: Access) => void): void {
    const decision = authorize(this.#auth!, token, doc);
    if (decision.kind !== "allowed") {
      this.#refuse(connection, doc, remote, decision.kind, decision.reason);
      return;
    }
    this.#admitted.set(connection, { doc, token: token!, access: decision.access });
    admit(decision.access);
  }

  #refuse(connection: AdmissionConnection, doc: string, remote: string | undefined, kind: "unauthorized" | "forbidden", reason: string): void {
    this.metrics.rejectedConnection(kind);
    this.log.warn("conn.rejected", { doc, conn: connection.peer, reason: kind, remote, message: reason });
    connection.close(kind === "unauthorized" ? CloseCode.unauthorized : CloseCode.forbidden, reason);
  }
}
