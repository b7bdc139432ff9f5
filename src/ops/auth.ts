/**
 * Who may open which document on Concord's servers (the sync server, the node servers of every
 * mode): a table of bearer tokens, each allowed a list of documents, read-write or read-only, and
 * the tokens of operators (admin).
 *
 * The auth file (`concord serve --auth <file>`, `concord node --auth <file>`, or `auth: "<file>"`
 * in code) is JSON:
 *
 * ```json
 * {
 *   "tokens": {
 *     "s3cret-writer": { "docs": ["todos", "notes-*"], "access": "read-write" },
 *     "s3cret-viewer": { "docs": ["*"], "access": "read-only" },
 *     "s3cret-operator": { "docs": ["*"], "access": "admin" }
 *   }
 * }
 * ```
 *
 * - a token is any non-empty string; clients send it as the `token` query parameter
 *   (`ws://host:port/<doc>?token=...`, what Concord's `sync: { url, token }` and a stock
 *   `WebsocketProvider` with `params: { token }` send), or in a first `concord-auth` message
 *   (Concord's `sync: { url, token, tokenIn: "message" }`), which keeps it out of URLs;
 * - `docs` lists document names; one ending in `*` matches every name starting with what comes
 *   before it (`"notes-*"` matches `notes-a` and `notes-`, `"*"` matches every document); `*`
 *   anywhere else is an ordinary character;
 * - `access`: `"read-write"`, `"read-only"` (the connection receives the document, its updates
 *   and presence, but its own changes are refused and never applied: see `server/write-gate.ts`),
 *   or `"admin"`: read-write, and on a node also the operator's requests (promote, membership,
 *   leadership transfer).
 *
 * Unknown fields are refused (a misspelt `"acess"` must not silently grant the default).
 * Tokens are secrets: never logged. A presented token is looked up by its SHA-256 digest, so the
 * time a lookup takes says nothing about how much of a real token a guess got right.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConcordError } from "../errors.js";

/** What a token may do on the documents it is allowed; `admin` is read-write and the operator's requests too. */
export type Access = "read-write" | "read-only" | "admin";

/** One token's grant. */
export interface TokenGrant {
  /** Document names; a trailing `*` makes a prefix match. Non-empty. */
  readonly docs: readonly string[];
  readonly access: Access;
}

/** The parsed auth file. */
export interface AuthConfig {
  readonly tokens: Readonly<Record<string, TokenGrant>>;
}

/** The verdict on one connection attempt. */
export type AuthDecision =
  | { readonly kind: "allowed"; readonly access: Access }
  /** No token, or one not in the table: the server closes with 4401. */
  | { readonly kind: "unauthorized"; readonly reason: string }
  /** A known token not allowed this document: the server closes with 4403. */
  | { readonly kind: "forbidden"; readonly reason: string };

const ACCESS: readonly Access[] = ["read-write", "read-only", "admin"];

/**
 * Checks that `value` is an auth config (the format in the module documentation) and returns a
 * frozen copy. `source` names where it came from (a file path) in error messages.
 * @throws ConcordError `InvalidArgument` naming `source` and the first problem found.
 */
export function parseAuthConfig(value: unknown, source = "auth"): AuthConfig {
  const bad = (problem: string): ConcordError => new ConcordError("InvalidArgument", `${source}: ${problem}`, { source });
  if (!isPlainObject(value)) throw bad(`must be a JSON object {"tokens": {...}}, got ${describeJson(value)}`);
  for (const key of Object.keys(value)) if (key !== "tokens") throw bad(`unknown field ${JSON.stringify(key)} (only "tokens")`);
  const tokens = value["tokens"];
  if (!isPlainObject(tokens)) throw bad(`"tokens" must be an object mapping each token to {"docs": [...], "access": ...}, got ${describeJson(tokens)}`);
  const out: Record<string, TokenGrant> = Object.create(null) as Record<string, TokenGrant>;
  let index = 0;
  for (const [token, grant] of Object.entries(tokens)) {
    // Never echo a token in a message: name it by position.
    const where = `token #${++index} in "tokens"`;
    if (token.length === 0) throw bad(`${where} is the empty string; tokens must be non-empty`);
    if (!isPlainObject(grant)) throw bad(`${where} must map to {"docs": [...], "access": ...}, got ${describeJson(grant)}`);
    for (const key of Object.keys(grant)) {
      if (key !== "docs" && key !== "access") throw bad(`${where} has an unknown field ${JSON.stringify(key)} (only "docs" and "access")`);
    }
    const docs = grant["docs"];
    if (!Array.isArray(docs) || docs.length === 0 || !docs.every((d) => typeof d === "string" && d.length > 0)) {
      throw bad(`${where}: "docs" must be a non-empty array of non-empty document names (a trailing * matches a prefix), got ${describeJson(docs)}`);
    }
    const access = grant["access"];
    if (typeof access !== "string" || !(ACCESS as readonly string[]).includes(access)) {
      throw bad(`${where}: "access" must be "read-write", "read-only" or "admin", got ${describeJson(access)}`);
    }
    out[token] = Object.freeze({ docs: Object.freeze([...(docs as string[])]), access: access as Access });
  }
  return Object.freeze({ tokens: Object.freeze(out) });
}

/**
 * Reads and parses the auth file at `path`.
 * @throws ConcordError `InvalidArgument` naming the file and the problem (unreadable, not JSON,
 *   not the format).
 */
export function loadAuthFile(path: string): AuthConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new ConcordError("InvalidArgument", `auth file ${path}: cannot read it (${typeof code === "string" ? code : String(error)})`, { path }, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConcordError("InvalidArgument", `auth file ${path}: not valid JSON (${(error as Error).message})`, { path }, { cause: error });
  }
  return parseAuthConfig(json, `auth file ${path}`);
}

/** True when `doc` matches `pattern`: equal, or starting with what precedes a trailing `*`. */
export function docMatches(pattern: string, doc: string): boolean {
  return pattern.endsWith("*") ? doc.startsWith(pattern.slice(0, -1)) : doc === pattern;
}

/** Grants by token digest, built once per config. */
const digestIndexes = new WeakMap<AuthConfig, ReadonlyMap<string, TokenGrant>>();

function digestOf(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The grant of `token`, if the table has it (looked up by digest). */
export function grantOf(config: AuthConfig, token: string): TokenGrant | undefined {
  let index = digestIndexes.get(config);
  if (index === undefined) {
    index = new Map(Object.entries(config.tokens).map(([t, grant]) => [digestOf(t), grant]));
    digestIndexes.set(config, index);
  }
  return index.get(digestOf(token));
}

/** Decides whether `token` (undefined: none sent) may open `doc`, and how. */
export function authorize(config: AuthConfig, token: string | undefined, doc: string): AuthDecision {
  if (token === undefined || token.length === 0) {
    return { kind: "unauthorized", reason: "unauthorized: no token (connect with ?token=... or send a concord-auth message first)" };
  }
  const grant = grantOf(config, token);
  if (grant === undefined) return { kind: "unauthorized", reason: "unauthorized: unknown token" };
  if (!grant.docs.some((pattern) => docMatches(pattern, doc))) {
    return { kind: "forbidden", reason: `forbidden: this token may not open ${JSON.stringify(doc)}` };
  }
  return { kind: "allowed", access: grant.access };
}

/** The `token` query parameter of a request URL (the first one), or undefined. */
export function tokenOf(requestUrl: string | undefined): string | undefined {
  const query = /\?([^#]*)/.exec(requestUrl ?? "")?.[1];
  if (query === undefined) return undefined;
  try {
    return new URLSearchParams(query).get("token") ?? undefined;
  } catch {
    return undefined;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describeJson(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
