/**
 * Regression (fixed: the CLI now exits only once stdout and stderr drained, `exitAfterOutput` in
 * src/cli/main.ts). `concord dump` used to lose the end of its output when its stdout is a pipe, which is how every program that runs it (a script, `execFile`, `$(...)` under load) reads
 * it. Found by `server-crash.test.ts`, whose dump of ~500 entries came back with ~280.
 *
 * Cause, as it was: src/cli/main.ts ended the process with `process.exit(code)` as soon as `main`
 * resolves, while the lines `src/cli/dump.ts:45` wrote with `process.stdout.write` may still be
 * queued: on POSIX, `process.stdout` writes to a pipe are asynchronous (Node queues them once the
 * pipe's buffer is full) and `process.exit` drops what is queued. The dump still exits 0, so the
 * caller can't tell its output was cut. The fix waits for both streams to drain
 * (`write("", cb)`) before exiting.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/open-store.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { dumpEntries, runCleanups, tempDir } from "./harness.js";

const exec = promisify(execFile);
afterEach(runCleanups);

const ENTRIES = 5_000;

describe("concord dump into a pipe", () => {
  it("prints every entry when its stdout is a pipe, as it does into a file", async () => {
    const data = tempDir();
    const store = await openStore({ mode: "eventual", doc: "big", persistence: fileStorage(data) });
    await store.transact((tx) => {
      for (let i = 0; i < ENTRIES; i++) tx.set(`k:${String(i).padStart(5, "0")}`, { i });
    });
    await store.close();

    // Into a file (synchronous writes): complete.
    expect(await dumpEntries(data, "big")).toHaveLength(ENTRIES);
    // Into a pipe read by a Node parent: cut short, with exit code 0.
    const { stdout } = await exec(process.execPath, ["dist/cli/main.js", "dump", "--data", data, "--doc", "big"], { timeout: 20_000 });
    expect(stdout.split("\n").filter((l) => l.length > 0)).toHaveLength(ENTRIES);
  });
});
