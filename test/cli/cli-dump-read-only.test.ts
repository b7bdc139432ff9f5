/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (LOW): `concord dump` creates what it was asked to read.
 *
 * Where: src/cli/dump.ts:1-5 promises "Opens the document's log read-only in spirit: recovery may
 * truncate a torn tail, as any open would, but nothing else is written." It opens the document with
 * `openStore(... fileStorage(data))`, and file-storage.ts `rootReady` (mkdirp of `--data`) plus
 * file-log-recovery.ts:33-34 and 75-79 (mkdirp of the document folder, empty `log-0000000000.log`)
 * create the data folder, the document folder and a log for a document that does not exist. A typo in
 * `--doc` (or `--data`) leaves an empty document behind, and dump prints nothing with exit code 0
 * instead of saying the document does not exist.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dump } from "../../src/cli/dump.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("concord dump writes nothing", () => {
  it("dumping a document that does not exist creates no folder or file", async () => {
    const data = mkdtempSync(join(tmpdir(), "concord-review-dump-"));
    dirs.push(data);
    await dump(new Map([["data", data], ["doc", "no-such-doc"]])).catch(() => 1);
    expect(readdirSync(data)).toEqual([]);
  });

  it("dumping from a data folder that does not exist does not create it", async () => {
    const parent = mkdtempSync(join(tmpdir(), "concord-review-dump-"));
    dirs.push(parent);
    const data = join(parent, "typo");
    await dump(new Map([["data", data], ["doc", "todos"]])).catch(() => 1);
    expect(existsSync(data)).toBe(false);
  });
});
