/**
 * `concord salvage`: a document whose log is damaged in the middle (opening it fails with
 * Corrupt) is copied, up to the damage, into a new data folder, with what was lost said; the
 * damaged folder is left as it was.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/open-store.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { scanRecords } from "../../src/storage/record.js";
import { concord } from "./run-cli.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "concord-salvage-"));
  dirs.push(dir);
  return dir;
}

/** A stored document "todos" of three writes, one record each; returns its log file's path. */
async function storedDoc(data: string): Promise<string> {
  const store = await openStore({ mode: "eventual", doc: "todos", persistence: fileStorage(data) });
  await store.set("todo:1", "milk");
  await store.set("todo:2", "eggs");
  await store.set("todo:3", "flour");
  await store.close();
  const folder = join(data, "todos");
  const log = readdirSync(folder).find((name) => name.startsWith("log-"))!;
  return join(folder, log);
}

describe("concord salvage", () => {
  it("keeps what comes before the damage, says what was lost, and leaves the damaged folder alone", async () => {
    const data = tempDir();
    const logPath = await storedDoc(data);
    const bytes = readFileSync(logPath);
    const { records } = scanRecords(bytes, "log", { maxRecordBytes: 1 << 20 });
    expect(records.length).toBe(3);
    // Damage the second record's payload: its checksum fails.
    const second = records[1]!.byteOffset - bytes.byteOffset;
    const at = second + 2;
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(logPath, bytes);
    const damaged = await concord("dump", "--data", data, "--doc", "todos");
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(/^concord: Corrupt: /);

    const out = join(tempDir(), "salvaged");
    const run = await concord("salvage", "--data", data, "--doc", "todos", "--out", out);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toBe(`concord salvage: kept no snapshot and 1 log record(s) from ${logPath.split("/").pop()}: 1 key(s), written to ${join(out, "todos")}`);
    const secondHeader = second - 12;
    expect(lines[1]).toMatch(new RegExp(`^concord salvage: lost ${bytes.length - secondHeader} byte\\(s\\) of log-0+\\.log from byte ${secondHeader}: .*checksum`));
    expect(await concord("dump", "--data", out, "--doc", "todos")).toMatchObject({ code: 0, stdout: '["todo:1","milk"]\n' });
    // Read only: the damaged log is as it was.
    expect(readFileSync(logPath).equals(bytes)).toBe(true);
  });

  it("says nothing was lost for a healthy document; refuses an --out already holding it, and missing flags", async () => {
    const data = tempDir();
    await storedDoc(data);
    const out = join(tempDir(), "copy");
    const run = await concord("salvage", "--data", data, "--doc", "todos", "--out", out);
    expect(run.stdout).toContain("concord salvage: nothing was lost\n");
    expect(await concord("dump", "--data", out, "--doc", "todos")).toMatchObject({ code: 0, stdout: '["todo:1","milk"]\n["todo:2","eggs"]\n["todo:3","flour"]\n' });
    const again = await concord("salvage", "--data", data, "--doc", "todos", "--out", out);
    expect(again).toMatchObject({ code: 2, stderr: expect.stringMatching(/already holds document "todos"/) });
    expect(await concord("salvage", "--data", data, "--doc", "todos")).toMatchObject({ code: 2, stderr: expect.stringMatching(/salvage needs --data <dir> --doc <name> --out <dir>/) });
    expect(await concord("salvage", "--data", data, "--doc", "nope", "--out", out)).toMatchObject({ code: 1, stderr: expect.stringMatching(/no document "nope"/) });
  });
});
