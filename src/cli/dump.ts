/**
 * `concord dump`: prints a stored document as JSON lines, one `[key, value]` per line, sorted by
 * key. Opens the document's log read-only in spirit: recovery may truncate a torn tail, as any
 * open would, but nothing else is written.
 */
import { UsageError } from "./flags.js";
import { openStore } from "../open-store.js";
import { fileStorage } from "../storage/file-storage.js";

/** Runs `concord dump` with parsed flags; returns the exit code. Throws {@link UsageError} for missing flags. */
export async function dump(flags: Map<string, string>): Promise<number> {
  const data = flags.get("data");
  const doc = flags.get("doc");
  if (!data) throw new UsageError("dump needs --data <dir>");
  if (!doc) throw new UsageError("dump needs --doc <name>");
  const prefix = flags.get("prefix");
  const store = await openStore({ mode: "eventual", doc, persistence: fileStorage(data) });
  try {
    for (const entry of store.entriesLocal(prefix === undefined ? {} : { prefix })) {
      process.stdout.write(`${JSON.stringify(entry)}\n`);
    }
  } finally {
    await store.close();
  }
  return 0;
}
