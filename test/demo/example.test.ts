/**
 * The README's first command runs demo/embedded.ts; this keeps what it says true. It runs the
 * example twice, as a user would, in a fresh data folder: the second run must start from the
 * first run's files.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const data = mkdtempSync(join(tmpdir(), "concord-example-"));
afterAll(() => rmSync(data, { recursive: true, force: true }));

async function example(): Promise<string> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", "demo/embedded.ts"], {
    env: { ...process.env, CONCORD_DATA: data },
    timeout: 30_000,
  });
  return stdout;
}

describe("npm run example", () => {
  it("syncs two file-backed replicas and resumes from disk on the next run", async () => {
    const first = await example();
    expect(first).toContain('run 1: the write is durable at level "local"');
    expect(first).toContain('laptop has: [["todo:1",{"title":"buy milk (run 1)","done":false}]]');
    const second = await example();
    expect(second).toContain("run 2:");
    expect(second).toContain('["todo:1",{"title":"buy milk (run 1)","done":true}],["todo:2",{"title":"buy milk (run 2)","done":false}]');
    expect(second).toContain('notes: "run 2. run 1. "');
    expect(second).toContain('"replicaId":"laptop"');
  });
});
