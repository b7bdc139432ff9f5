/**
 * `concord dump`: prints a stored document as JSON lines, one `[key, value]` per line, sorted by
 * key. Reads only a document that exists: when `--data` or the document's folder in it is missing,
 * it fails (exit code 1) without creating anything. An existing document is opened as any open
 * would, so recovery may finish what a crash left behind (cut a torn tail off the last log, delete
 * an interrupted compaction's files, create the empty log of a folder that has none); nothing else
 * is written.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "./flags.js";
import { asDocId } from "../ids.js";
import { openStore } from "../open-store.js";
import { docFolderName } from "../storage/file-layout.js";
import { fileStorage } from "../storage/file-storage.js";

/**
 * The document (or the data folder) to dump does not exist. The CLI prints `concord: <message>`
 * and exits 1, like any failed command.
 */
export class MissingDocumentError extends Error {
  override readonly name = "MissingDocumentError";
}

/**
 * Runs `concord dump` with parsed flags; returns the exit code.
 * @throws UsageError for missing flags.
 * @throws MissingDocumentError when `--data` or the document's folder does not exist (nothing is created).
 * @throws ConcordError from opening the document (`Corrupt`, `Io`, `InvalidArgument` for a name too long).
 */
export async function dump(flags: Map<string, string>): Promise<number> {
  const data = flags.get("data");
  const doc = flags.get("doc");
  if (!data) throw new UsageError("dump needs --data <dir>");
  if (!doc) throw new UsageError("dump needs --doc <name>");
  const prefix = flags.get("prefix");
  // Opening creates what is missing, so look first: a typo must not leave an empty document behind.
  if (!isFolder(data)) throw new MissingDocumentError(`no data folder ${data} (it does not exist or is not a folder)`);
  const folder = join(data, docFolderName(asDocId(doc)));
  if (!isFolder(folder)) throw new MissingDocumentError(`no document ${JSON.stringify(doc)} in ${data} (looked for ${folder})`);

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

function isFolder(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
