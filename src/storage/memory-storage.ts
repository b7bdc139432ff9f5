/**
 * The in-memory twin of the file and IndexedDB storages (STYLE.md section 3): same contract, no
 * device. For tests, demos and nodes that are allowed to forget everything when the process ends.
 */
import type { DocId } from "../ids.js";
import { openDocLog } from "./doc-log.js";
import { checkDocId, resolveLogLimits, type LogLimitOptions } from "./log-limits.js";
import type { DocStorage, Persistence } from "./storage.js";

/** Options of {@link memoryStorage}. */
export type MemoryStorageOptions = LogLimitOptions;

/**
 * Documents kept in this process's memory. What a document's storage wrote survives `close()`
 * and a later `open` of the same document on the same `memoryStorage()` instance, never the
 * process. "Durable" means stored in that instance: appends resolve on a later microtask, batched
 * like the other adapters. Bytes are copied in and out, so callers can't mutate what is stored.
 *
 * @throws ConcordError `InvalidArgument` for bad limits (synchronously); `open` rejects with
 *   `InvalidArgument` for an empty or over-long document name.
 */
export function memoryStorage(options: MemoryStorageOptions = {}): Persistence {
  const limits = resolveLogLimits(options, "memoryStorage");
  const docs = new Map<string, { snapshot: Uint8Array | undefined; records: Uint8Array[] }>();
  return {
    name: "memory",
    async open(doc: DocId): Promise<DocStorage> {
      checkDocId(doc, "memoryStorage");
      let stored = docs.get(doc);
      if (stored === undefined) {
        stored = { snapshot: undefined, records: [] };
        docs.set(doc, stored);
      }
      const durable = stored;
      return openDocLog({
        label: `memory storage, doc ${JSON.stringify(doc)}`,
        recovered: { snapshot: durable.snapshot, records: [...durable.records] },
        // The doc log never mutates the arrays it passes down, so keeping them is safe.
        sink: {
          async append(records) {
            for (const r of records) durable.records.push(r);
          },
          async compact(snapshot) {
            durable.snapshot = snapshot;
            durable.records = [];
          },
          async load() {
            return { snapshot: durable.snapshot, records: durable.records };
          },
          async close() {},
        },
        limits,
        schedule: "always",
      });
    },
  };
}
