/** The static folder a sync server serves at `/` (`static-files.ts`). */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { contentTypeOf, loadStaticFiles, staticFiles } from "../../src/server/static-files.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "concord-static-"));
  dirs.push(dir);
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), body);
  }
  return dir;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isConcordError(e, "InvalidArgument")) return e.message;
    throw e;
  }
  throw new Error("expected InvalidArgument");
}

describe("static files", () => {
  it("answers / and a folder's path with its index.html, files by their path, percent-decoded; nothing else", async () => {
    const dir = folder({ "index.html": "home", "docs/index.html": "docs", "docs/a b.txt": "spaced", ".secret": "no", ".git/config": "no" });
    symlinkSync("/etc/hostname", join(dir, "link"));
    const files = await loadStaticFiles(dir);
    const body = (path: string) => files.get(path)?.body.toString();
    expect([body("/"), body("/index.html"), body("/docs"), body("/docs/"), body("/docs/a%20b.txt")]).toEqual(["home", "home", "docs", "docs", "spaced"]);
    for (const path of ["/.secret", "/.git/config", "/link", "/../index.html", "/docs/../index.html", "/%E0%A4%A", "", "/nope"]) {
      expect(files.get(path), path).toBeUndefined();
    }
    expect({ count: files.count, bytes: files.bytes }).toEqual({ count: 3, bytes: 14 });
  });

  it("names content types by extension, octet-stream when unknown", () => {
    expect(["a.html", "b.JS", "c.css", "d.map", "e.svg", "f.bin", "noext"].map(contentTypeOf)).toEqual([
      "text/html; charset=utf-8",
      "text/javascript; charset=utf-8",
      "text/css; charset=utf-8",
      "application/json; charset=utf-8",
      "image/svg+xml",
      "application/octet-stream",
      "application/octet-stream",
    ]);
    expect(staticFiles(new Map()).get("/")).toBeUndefined();
  });

  it("refuses a missing folder, a file for a folder, and a folder over the size limit, naming it", async () => {
    expect(await refusal(loadStaticFiles("/no/such/dir"))).toMatch(/static folder \/no\/such\/dir can't be read: ENOENT/);
    const dir = folder({ "a.txt": "12345", "b.txt": "67890" });
    expect(await refusal(loadStaticFiles(join(dir, "a.txt")))).toMatch(/can't be read: ENOTDIR/);
    expect(await refusal(loadStaticFiles(dir, 9))).toMatch(new RegExp(`static folder ${dir} holds more than 9 bytes`));
    expect((await loadStaticFiles(dir, 10)).bytes).toBe(10);
  });
});
