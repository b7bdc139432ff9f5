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
import { authorize, loadAuthFile, tokenOf, type Access, type AuthConfig, type AuthDecision } from "../ops/auth.js";
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
  /** Gives back a frame taken with `takeFirstFrame`: the room gets it first. */
  putBack(bytes: Uint8Array): void;
  /** Stops reading the socket (TCP pushes back) until the connection joins its room. */
  pauseUntilJoined(): void;
  close(code: number, reason: string): void;
}

/** Who asks to open a document, as an {@link Authenticate} hook sees it. */
export interface AuthRequest {
  readonly doc: string;
  /** The URL's `?token=`, else the token of a first `concord-auth` message; undefined when neither came. */
  readonly token: string | undefined;
  /** The upgrade request's headers (cookies, an `Authorization` a proxy added...). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The client's address. */
  readonly remote: string | undefined;
}

/**
 * An app's own check of who may open which document (a JWT, a session store), instead of the
 * token file: the access to grant (`{ kind: "allowed", access: "read-write" | "read-only" }`) or a
 * refusal (`{ kind: "unauthorized" | "forbidden", reason }`: closed with 4401 / 4403, the reason
 * sent to the client). May be async; the connection waits, not reading, for at most the auth
 * timeout. A throw or a rejection refuses the connection as unauthorized (and is logged).
 */
export type Authenticate = (request: AuthRequest) => AuthDecision | Promise<AuthDecision>;

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
  readonly #hook: Authenticate | undefined;

  constructor(
    /** The token table, or an app's hook (never both). */
    auth: AuthConfig | Authenticate | undefined,
    /** The file `auth` came from, re-read by {@link reload}; undefined when given as an object. */
    private readonly authFile: string | undefined,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly log: ServerLog,
    private readonly metrics: ServerMetrics,
  ) {
    if (typeof auth === "function") this.#hook = auth;
    else this.#auth = auth;
  }

  /** True when connections are checked (a token table or a hook). */
  get enabled(): boolean {
    return this.#auth !== undefined || this.#hook !== undefined;
  }

  /**
   * Decides on `connection` to `doc`: calls `admit` with its access (at once, or once its first
   * message brought a token), or closes it with 4401/4403 and never calls `admit`.
   */
  check(
    connection: AdmissionConnection,
    doc: string,
    requestUrl: string | undefined,
    remote: string | undefined,
    admit: (access: Access) => void,
    headers: AuthRequest["headers"] = {},
  ): void {
    if (!this.enabled) {
      admit("read-write");
      return;
    }
    const decide = (token: string | undefined): void => this.#decide(connection, { doc, token, headers, remote }, admit);
    const fromQuery = tokenOf(requestUrl);
    if (fromQuery !== undefined) {
      decide(fromQuery);
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
      // A hook may let in a client without a token (a cookie): its first frame is for the room.
      if (token === undefined && this.#hook !== undefined) connection.putBack(bytes);
      decide(token);
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
      throw new ConcordError("InvalidArgument", `reloadAuth: the server was not started with an auth file to re-read${this.#hook ? " (it checks connections with an authenticate hook)" : ""}`);
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

  #decide(connection: AdmissionConnection, request: AuthRequest, admit: (access: Access) => void): void {
    const { doc, token, remote } = request;
    const hook = this.#hook;
    if (hook === undefined) {
      const decision = authorize(this.#auth!, token, doc);
      if (decision.kind !== "allowed") {
        this.#refuse(connection, doc, remote, decision.kind, decision.reason);
        return;
      }
      this.#admitted.set(connection, { doc, token: token!, access: decision.access });
      admit(decision.access);
      return;
    }
    const failed = (error: unknown): void => {
      this.log.error("auth.hook_failed", { doc, conn: connection.peer, error });
      this.#refuse(connection, doc, remote, "unauthorized", "unauthorized: the server could not check this connection");
    };
    const apply = (decision: unknown): void => {
      if (!isDecision(decision)) return failed(new ConcordError("InvalidArgument", `authenticate returned ${JSON.stringify(decision)}, not an AuthDecision`));
      if (decision.kind === "allowed") admit(decision.access);
      else this.#refuse(connection, doc, remote, decision.kind, decision.reason);
    };
    let result: AuthDecision | Promise<AuthDecision>;
    try {
      result = hook(request);
    } catch (error) {
      return failed(error);
    }
    if (!(result instanceof Promise)) return apply(result);
    // Waiting on the app: read nothing more meanwhile (memory stays bounded), for a bounded time.
    connection.pauseUntilJoined();
    let settled = false;
    const cancel = this.clock.setTimer(this.timeoutMs, () => {
      if (settled) return;
      settled = true;
      this.#refuse(connection, doc, remote, "unauthorized", `unauthorized: the check of this connection took longer than ${this.timeoutMs} ms`);
    });
    result.then(
      (decision) => {
        if (settled) return;
        settled = true;
        cancel();
        apply(decision);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        cancel();
        failed(error);
      },
    );
  }

  #refuse(connection: AdmissionConnection, doc: string, remote: string | undefined, kind: "unauthorized" | "forbidden", reason: string): void {
    this.metrics.rejectedConnection(kind);
    this.log.warn("conn.rejected", { doc, conn: connection.peer, reason: kind, remote, message: reason });
    connection.close(kind === "unauthorized" ? CloseCode.unauthorized : CloseCode.forbidden, reason);
  }
}

function isDecision(value: unknown): value is AuthDecision {
  if (typeof value !== "object" || value === null) return false;
  const d = value as { kind?: unknown; access?: unknown; reason?: unknown };
  if (d.kind === "allowed") return d.access === "read-write" || d.access === "read-only";
  return (d.kind === "unauthorized" || d.kind === "forbidden") && typeof d.reason === "string";
}
