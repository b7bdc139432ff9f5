/**
 * `concord salvage --data <dir> --doc <name> --out <dir>`: the way out for a document whose log is
 * damaged (opening it fails with `Corrupt`): writes what is good before the damage into the same
 * document in a new data folder, and says what was lost (which file, from which byte, why). The
 * damaged folder is only read. Then point the server at the new folder, or copy the document's
 * folder back. Exits 0 once written, 1 when there is nothing to salvage from, 2 for bad flags.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import * as Y from "yjs";
import { asDocId } from "../ids.js";
import { openStore } from "../open-store.js";
import { docFolderName } from "../storage/file-layout.js";
import { fileStorage } from "../storage/file-storage.js";
import { DEFAULT_MAX_RECORD_BYTES } from "../storage/log-limits.js";
import { nodeFileSystem } from "../storage/node-fs.js";
import { salvageFolder } from "../storage/salvage.js";
import { MissingDocumentError } from "./dump.js";
import { UsageError } from "./flags.js";

/** Runs `concord salvage` with parsed flags; returns the exit code. */
export async function salvage(flags: Map<string, string>): Promise<number> {
  const data = flags.get("data");
  const doc = flags.get("doc");
  const out = flags.get("out");
  if (!data || !doc || !out) throw new UsageError("salvage needs --data <dir> --doc <name> --out <dir>");
  const folder = join(data, docFolderName(asDocId(doc)));
  if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
    throw new MissingDocumentError(`no document ${JSON.stringify(doc)} in ${data} (looked for ${folder})`);
  }
  const target = join(out, docFolderName(asDocId(doc)));
  if (statSync(target, { throwIfNoEntry: false }) !== undefined) {
    throw new UsageError(`--out ${out} already holds document ${JSON.stringify(doc)}: salvage into a folder without it`);
  }
  const found = await salvageFolder(nodeFileSystem(), folder, DEFAULT_MAX_RECORD_BYTES);
  const store = await openStore({ mode: "eventual", doc, persistence: fileStorage(out) });
  let keys: number;
  let unapplied: boolean;
  try {
    store.ydoc.transact(() => {
      if (found.snapshot !== undefined) Y.applyUpdate(store.ydoc, found.snapshot);
      for (const record of found.records) Y.applyUpdate(store.ydoc, record);
    });
    keys = store.entriesLocal().length;
    // Updates that depend on lost ones stay pending in Yjs: they are not in the document.
    unapplied = store.ydoc.store.pendingStructs !== null || store.ydoc.store.pendingDs !== null;
  } finally {
    await store.close();
  }
  const kept = `${found.snapshot === undefined ? "no snapshot" : "the snapshot"} and ${found.records.length} log record(s) from ${found.keptFrom.join(", ") || "no file"}`;
  process.stdout.write(`concord salvage: kept ${kept}: ${keys} key(s), written to ${target}\n`);
  if (found.lost.length === 0) process.stdout.write("concord salvage: nothing was lost\n");
  for (const loss of found.lost) {
    process.stdout.write(`concord salvage: lost ${loss.bytes} byte(s) of ${loss.file} from byte ${loss.offset}: ${loss.reason}\n`);
  }
  if (unapplied) process.stdout.write("concord salvage: some kept changes depend on lost ones and are not in the salvaged document\n");
  return 0;
}
