/**
 * A real process crash: a child process appends through fileStorage with group commit on real
 * files, is SIGKILLed mid-stream, and every record it acknowledged must be found, in order.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { asDocId } from "../../src/ids.js";
import { fileStorage } from "../../src/storage/file-storage.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/append-until-killed.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const ACKS_BEFORE_KILL = 1000;

describe("fileStorage under SIGKILL", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("keeps every acknowledged record, in order, and nothing unknown, after the writer is killed", async () => {
    dir = await mkdtemp(join(tmpdir(), "concord-kill-"));
    const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, dir], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    const acked: number[] = [];
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));

    await new Promise<void>((resolve, reject) => {
      let partial = "";
      child.stdout.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop()!;
        for (const line of lines) acked.push(Number(line));
        if (acked.length >= ACKS_BEFORE_KILL) {
          child.kill("SIGKILL");
          resolve();
        }
      });
      child.on("exit", (code) => reject(new Error(`the writer exited on its own (code ${code}) after ${acked.length} acks:\n${stderr}`)));
    });
    expect(await exited).toBe("SIGKILL");

    expect(acked).toEqual(Array.from({ length: acked.length }, (_, i) => i));
    const storage = await fileStorage(dir).open(asDocId("killed"));
    const log = await storage.load();
    await storage.close();
    const dec = new TextDecoder();
    const fromSnapshot = log.snapshot === undefined ? [] : (JSON.parse(dec.decode(log.snapshot)) as number[]);
    const recovered = [...fromSnapshot, ...log.records.map((r) => Number(dec.decode(r)))];
    expect(recovered.length).toBeGreaterThanOrEqual(acked.length);
    expect(recovered).toEqual(Array.from({ length: recovered.length }, (_, i) => i));
  }, 10_000);
});
