/**
 * The presence bus port: best-effort, non-durable messages between the instances of a scaled-out
 * deployment (y-protocols awareness, which lives only as long as its clients), and the instances'
 * heartbeats, so that the presence of an instance's clients is removed everywhere when it dies.
 * Redis pub/sub implements it (`redis-log.ts`); `memory-hub.ts` is its in-memory twin.
 */
import type { DocId } from "../ids.js";

/** One bus message about a document. */
export type PresenceMessage =
  /** An awareness message (y-protocols encoding) from the instance's clients. */
  | { readonly kind: "awareness"; readonly origin: string; readonly bytes: Uint8Array }
  /** The instance opened the document: instances holding it answer with their clients' presence. */
  | { readonly kind: "query"; readonly origin: string };

/** What the bus tells a subscriber. MUST NOT throw. */
export interface PresenceListener {
  message(doc: DocId, message: PresenceMessage): void;
  /** An instance's heartbeat (or its goodbye, `alive: false`). */
  instance(origin: string, alive: boolean): void;
}

export interface PresenceBus {
  /** Best effort: lost while the engine is unreachable. */
  publish(doc: DocId, message: PresenceMessage): void;
  /** Heartbeat (`alive`) or goodbye of this instance. Best effort. */
  announce(origin: string, alive: boolean): void;
  /** Starts hearing `doc`'s messages (idempotent per doc). */
  watch(doc: DocId): void;
  /** Stops hearing `doc`'s messages. */
  unwatch(doc: DocId): void;
  /** Installs the one listener (heartbeats are heard from the start). */
  listen(listener: PresenceListener): void;
  close(): Promise<void>;
}
