import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { asDocId } from "../../src/ids.js";
import { openStore } from "../../src/open-store.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { concord } from "./run-cli.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));


describe("concord CLI", () => {
  it("prints help and version", async () => {
    const help = await concord("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/concord dump --data <dir> --doc <name>/);
    const version = await concord("--version");
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("dumps a stored document as sorted JSON lines, filtered by prefix", async () => {
    const data = mkdtempSync(join(tmpdir(), "concord-cli-"));
    dirs.push(data);
    const store = await openStore({ mode: "eventual", doc: "todos", persistence: fileStorage(data) });
    await store.set("todo:2", { title: "eggs" });
    await store.set("todo:1", { title: "milk" });
    await store.set("other", 1);
    await store.close();
    const out = await concord("dump", "--data", data, "--doc", "todos", "--prefix", "todo:");
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('["todo:1",{"title":"milk"}]\n["todo:2",{"title":"eggs"}]\n');
  });

  it("answers bad usage with exit code 2 and a message saying what is wrong", async () => {
    const unknownCommand = await concord("frobnicate");
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toMatch(/unknown command "frobnicate"/);
    const unknownFlag = await concord("dump", "--data", "x", "--dcc", "y");
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toMatch(/unknown flag --dcc \(known: --data, --doc, --prefix\)/);
    const missingValue = await concord("dump", "--data");
    expect(missingValue.code).toBe(2);
    expect(missingValue.stderr).toMatch(/--data needs a value/);
    const missingDoc = await concord("dump", "--data", "x");
    expect(missingDoc.code).toBe(2);
    expect(missingDoc.stderr).toMatch(/dump needs --doc <name>/);
  });

  it("refuses a missing document or data folder with exit code 1, creating nothing", async () => {
    const data = mkdtempSync(join(tmpdir(), "concord-cli-"));
    dirs.push(data);
    const noDoc = await concord("dump", "--data", data, "--doc", "todos");
    expect(noDoc.code).toBe(1);
    expect(noDoc.stderr).toBe(`concord: no document "todos" in ${data} (looked for ${join(data, "todos")})\n`);
    expect(noDoc.stdout).toBe("");
    expect(readdirSync(data)).toEqual([]);

    const missing = join(data, "typo");
    const noData = await concord("dump", "--data", missing, "--doc", "todos");
    expect(noData.code).toBe(1);
    expect(noData.stderr).toBe(`concord: no data folder ${missing} (it does not exist or is not a folder)\n`);
    expect(existsSync(missing)).toBe(false);
  });

  it("looks for the document under its escaped folder name", async () => {
    const data = mkdtempSync(join(tmpdir(), "concord-cli-"));
    dirs.push(data);
    const store = await openStore({ mode: "eventual", doc: "My Todos", persistence: fileStorage(data) });
    await store.set("k", "v");
    await store.close();
    const out = await concord("dump", "--data", data, "--doc", "My Todos");
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('["k","v"]\n');
    const otherCase = await concord("dump", "--data", data, "--doc", "my todos");
    expect(otherCase.code).toBe(1);
    expect(otherCase.stderr).toMatch(/^concord: no document "my todos" in /);
  });

  it("reports a corrupt document with exit code 1 and the Corrupt code", async () => {
    const data = mkdtempSync(join(tmpdir(), "concord-cli-"));
    dirs.push(data);
    const storage = await fileStorage(data).open(asDocId("todos"));
    await storage.append(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    await storage.close();
    const out = await concord("dump", "--data", data, "--doc", "todos");
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^concord: Corrupt: document "todos"/);
  });
});
