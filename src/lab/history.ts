/**
 * Histories of key-value operations as clients saw them: what each client asked, when it asked,
 * when (and whether) it got its answer, and what the answer was. The linearizability checker
 * (`linearizability.ts`) reads them; the simulation, the real-process tests and `concord lab`
 * record them. As JSON they are `{ "operations": [...] }`, each operation as {@link Operation} says.
 *
 * Times are numbers on one clock (virtual or real ms) shared by every client; only their order
 * matters. An operation whose answer never came (a timeout, a connection lost, an outcome the
 * client could not learn) has `return: null` and output `unknown`: it may have taken effect at any
 * moment after its call, or never.
 */
import { ConcordError } from "../errors.js";
import { jsonView, type Json } from "../json.js";

/** What a client asked: one key, read, written, deleted or compared-and-set. */
export type OperationInput =
  | { readonly kind: "get"; readonly key: string }
  | { readonly kind: "set"; readonly key: string; readonly value: Json }
  | { readonly kind: "delete"; readonly key: string }
  /** Writes `value` (or deletes, for undefined) only when the key holds `expect` (undefined: absent). */
  | { readonly kind: "cas"; readonly key: string; readonly expect: Json | undefined; readonly value: Json | undefined };

/** What the client was answered. */
export type OperationOutput =
  | { readonly kind: "value"; readonly value: Json | undefined }
  | { readonly kind: "ok" }
  | { readonly kind: "cas"; readonly succeeded: boolean }
  /** No answer, or one that did not say whether the operation took effect. */
  | { readonly kind: "unknown" };

export interface Operation {
  /** Who asked (operations of one client never overlap). */
  readonly client: string;
  readonly input: OperationInput;
  readonly output: OperationOutput;
  /** When it was asked. */
  readonly call: number;
  /** When it was answered; null when it never was (output `unknown`). */
  readonly return: number | null;
}

export interface History {
  readonly operations: readonly Operation[];
}

/** The key an operation is about. */
export function keyOf(op: Operation): string {
  return op.input.key;
}

/**
 * `json` as a history, checked: every operation well formed, each client's operations one after
 * another. @throws ConcordError `InvalidArgument` naming the first operation that is not.
 */
export function parseHistory(json: unknown): History {
  const fail = (where: string, why: string): never => {
    throw new ConcordError("InvalidArgument", `history: ${where} ${why}`, { where });
  };
  if (typeof json !== "object" || json === null || !Array.isArray((json as { operations?: unknown }).operations)) fail("the history", "must be an object { operations: [...] }");
  const raw = (json as { operations: unknown[] }).operations;
  const operations = raw.map((o, i): Operation => {
    const at = `operations[${i}]`;
    if (typeof o !== "object" || o === null) return fail(at, "is not an object");
    const { client, input, output, call } = o as Record<string, unknown>;
    const ret = (o as Record<string, unknown>)["return"];
    if (typeof client !== "string" || client.length === 0) fail(`${at}.client`, "must be a non-empty string");
    if (typeof call !== "number" || !Number.isFinite(call)) fail(`${at}.call`, "must be a finite number");
    if (ret !== null && (typeof ret !== "number" || !Number.isFinite(ret) || ret < (call as number))) fail(`${at}.return`, "must be null or a finite number not before call");
    const checkedInput = checkInput(input, `${at}.input`, fail);
    const checkedOutput = checkOutput(output, `${at}.output`, fail);
    if ((ret === null) !== (checkedOutput.kind === "unknown")) fail(at, "must have return null exactly when its output is unknown");
    return { client: client as string, input: checkedInput, output: checkedOutput, call: call as number, return: ret as number | null };
  });
  const byClient = new Map<string, Operation[]>();
  for (const op of operations) {
    let list = byClient.get(op.client);
    if (list === undefined) byClient.set(op.client, (list = []));
    list.push(op);
  }
  for (const [client, ops] of byClient) {
    const sorted = [...ops].sort((a, b) => a.call - b.call);
    for (let i = 1; i < sorted.length; i++) {
      const before = sorted[i - 1]!;
      if (before.return === null || before.return > sorted[i]!.call) fail(`client ${client}`, `has overlapping operations (one called at ${sorted[i]!.call} before the one called at ${before.call} returned)`);
    }
  }
  return { operations };
}

function checkInput(input: unknown, at: string, fail: (where: string, why: string) => never): OperationInput {
  if (typeof input !== "object" || input === null) return fail(at, "is not an object");
  const i = input as Record<string, unknown>;
  if (typeof i["key"] !== "string" || i["key"].length === 0) fail(`${at}.key`, "must be a non-empty string");
  const key = i["key"] as string;
  const json = (v: unknown, field: string, optional: boolean): Json | undefined => {
    if (v === undefined && optional) return undefined;
    const j = jsonView(v);
    if (j === undefined) return fail(`${at}.${field}`, "must be a JSON value");
    return j;
  };
  switch (i["kind"]) {
    case "get":
    case "delete":
      return { kind: i["kind"], key };
    case "set":
      return { kind: "set", key, value: json(i["value"], "value", false)! };
    case "cas":
      return { kind: "cas", key, expect: json(i["expect"], "expect", true), value: json(i["value"], "value", true) };
    default:
      return fail(`${at}.kind`, `must be "get", "set", "delete" or "cas", got ${JSON.stringify(i["kind"])}`);
  }
}

function checkOutput(output: unknown, at: string, fail: (where: string, why: string) => never): OperationOutput {
  if (typeof output !== "object" || output === null) return fail(at, "is not an object");
  const o = output as Record<string, unknown>;
  switch (o["kind"]) {
    case "value": {
      const v = o["value"];
      const j = v === undefined ? undefined : jsonView(v);
      if (v !== undefined && j === undefined) fail(`${at}.value`, "must be a JSON value or absent");
      return { kind: "value", value: j };
    }
    case "ok":
    case "unknown":
      return { kind: o["kind"] };
    case "cas":
      if (typeof o["succeeded"] !== "boolean") fail(`${at}.succeeded`, "must be a boolean");
      return { kind: "cas", succeeded: o["succeeded"] as boolean };
    default:
      return fail(`${at}.kind`, `must be "value", "ok", "cas" or "unknown", got ${JSON.stringify(o["kind"])}`);
  }
}
