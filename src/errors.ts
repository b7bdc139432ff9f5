/**
 * The two kinds of failure (STYLE.md section 6).
 *
 * Expected outcomes a caller can act on are {@link ConcordError}s with a stable {@link ErrorCode}.
 * A broken internal invariant is an {@link InvariantError}: a bug in Concord, never a user mistake.
 */

/** Stable error codes. Callers switch on these; messages are for people and may change. */
export type ErrorCode =
  | "InvalidValue" // a value that is not JSON, or a key that is empty or not a string
  | "InvalidArgument" // an API option or argument that makes no sense
  | "Closed" // the store, storage or transport was closed
  | "Corrupt" // stored bytes failed a checksum or do not parse
  | "Protocol" // a wire message is malformed or from an unknown version
  | "TooLarge" // a record or message exceeds a size limit
  | "Unavailable" // not enough of the system is reachable to do this safely
  | "NotLeader"
  | "ReadOnlyReplica"
  | "Stale" // a replica is further behind its primary than the read allows
  | "Fenced" // a newer primary exists (a promotion happened): this node no longer takes writes
  | "Timeout"
  | "Unauthorized"
  | "SessionExpired" // a client session the node no longer knows: open a new one (the write was not applied)
  | "Io" // the operating system refused an I/O operation
  | "Internal"; // a bug in Concord: the server failed unexpectedly on this request (a write's fate is unknown)

/** Each {@link ErrorCode} once; keyed by the type, so a code added there fails `tsc` until it is added here. */
const ERROR_CODE_KEYS: { readonly [C in ErrorCode]: null } = {
  InvalidValue: null,
  InvalidArgument: null,
  Closed: null,
  Corrupt: null,
  Protocol: null,
  TooLarge: null,
  Unavailable: null,
  NotLeader: null,
  ReadOnlyReplica: null,
  Stale: null,
  Fenced: null,
  Timeout: null,
  Unauthorized: null,
  SessionExpired: null,
  Io: null,
  Internal: null,
};

/** Every {@link ErrorCode}, for checking a code that arrives as a string (a wire message). */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(Object.keys(ERROR_CODE_KEYS) as ErrorCode[]);

const ERROR_CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);

/** True when `s` is one of the {@link ERROR_CODES}. */
export function isErrorCode(s: string): s is ErrorCode {
  return ERROR_CODE_SET.has(s);
}

/** An expected failure with a stable `code` and a message a person can act on. */
export class ConcordError extends Error {
  override readonly name = "ConcordError";
  readonly code: ErrorCode;
  /** Structured facts behind the message (file, offset, limit...), for logs and tests. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

/** A broken invariant inside Concord. Never thrown for bad input; always a bug to report. */
export class InvariantError extends Error {
  override readonly name = "InvariantError";
}

/** Throws an {@link InvariantError} when `condition` is false. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Exhaustiveness check for `switch` over tagged unions. */
export function assertNever(value: never, what = "value"): never {
  throw new InvariantError(`unexpected ${what}: ${JSON.stringify(value)}`);
}

/** True when `e` is a {@link ConcordError}, optionally with the given code. */
export function isConcordError(e: unknown, code?: ErrorCode): e is ConcordError {
  return e instanceof ConcordError && (code === undefined || e.code === code);
}
