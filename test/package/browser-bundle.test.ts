/**
 * The package as a browser app's bundler sees it: `concord-store` bundled by esbuild for the
 * browser platform (the package resolved through its own package.json, as an app's bundler
 * resolves it, from the built `dist/`: run after `npm run build`, as `npm test` does).
 *
 * - Nothing Node-only comes in: no `node:` built-in, no server, CLI, file-system or `ws` code
 *   (package.json's `browser` field swaps `storage/node-fs.js` for a stand-in that refuses).
 * - The package has no side effects, so an app that opens only `eventual` stores through
 *   `openEventualStore` carries none of the `primary` and `strong` clients.
 */
import { existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build, type Metafile } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { nodeFileSystem } from "../../src/storage/node-fs.browser.js";

const ROOT = resolve(import.meta.dirname, "../..");
let app: string;

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/index.js"))) throw new Error("dist/ is missing: run `npm run build` first (npm test does)");
  app = mkdtempSync(join(tmpdir(), "concord-browser-app-"));
  mkdirSync(join(app, "node_modules"));
  symlinkSync(ROOT, join(app, "node_modules", "concord-store"), "dir");
});

afterAll(() => {
  rmSync(app, { recursive: true, force: true });
});

/** Bundles `source` (an app's main module) for browsers, minified; returns what went in. */
async function bundle(name: string, source: string): Promise<{ inputs: string[]; bytes: number; warnings: string[] }> {
  const entry = join(app, `${name}.ts`);
  writeFileSync(entry, source);
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: app,
    bundle: true,
    platform: "browser",
    format: "esm",
    minify: true,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const meta: Metafile = result.metafile;
  const output = Object.values(meta.outputs)[0];
  if (output === undefined) throw new Error("esbuild wrote no output");
  // Inputs as package-relative paths: "dist/eventual/...", "node_modules/yjs/...".
  const inputs = Object.keys(output.inputs).map((p) => {
    const abs = resolve(app, p);
    return abs.startsWith(ROOT) ? abs.slice(ROOT.length + 1) : p;
  });
  return { inputs, bytes: output.bytes, warnings: result.warnings.map((w) => w.text) };
}

describe("concord-store in a browser bundle", () => {
  it("an app using every mode through openStore bundles with no Node built-in and no Node-only module", async () => {
    const { inputs, warnings } = await bundle(
      "all-modes",
      `import { openStore, indexedDbStorage, fileStorage } from "concord-store";
       export const open = (mode) =>
         mode === "eventual"
           ? openStore({ mode, doc: "todos", persistence: indexedDbStorage(), sync: { url: "ws://localhost:4321/todos" } })
           : openStore({ mode, doc: "todos", nodes: ["ws://localhost:5001"] });
       export const files = () => fileStorage("/data");`,
    );
    expect(warnings).toEqual([]);
    expect(inputs.filter((p) => p.startsWith("node:"))).toEqual([]);
    const nodeOnly = /^dist\/(server|cli|node|node-servers)[./]|^dist\/storage\/node-fs\.js$|^dist\/strong\/raft-(node|wal)\.js$|node_modules\/ws\/(index|lib)/;
    expect(inputs.filter((p) => nodeOnly.test(p))).toEqual([]);
    // The modes are all there, and the file system is the browser stand-in.
    for (const mode of ["eventual/eventual-store.js", "primary/primary-client.js", "strong/strong-client.js", "storage/node-fs.browser.js"]) {
      expect(inputs).toContain(`dist/${mode}`);
    }
  });

  it("an eventual-only app carries no primary, strong or node-client code", async () => {
    const { inputs, bytes } = await bundle(
      "eventual-only",
      `import { openEventualStore, indexedDbStorage } from "concord-store";
       const store = await openEventualStore({ mode: "eventual", doc: "todos", persistence: indexedDbStorage(), sync: { url: "ws://localhost:4321/todos" } });
       await store.set("greeting", "hello");`,
    );
    expect(inputs).toContain("dist/eventual/eventual-store.js");
    expect(inputs.filter((p) => /^dist\/(primary|strong|client|kv|lab|sim)\//.test(p))).toEqual([]);
    expect(bytes).toBeGreaterThan(0);
  });

  it("fileStorage in a browser refuses with InvalidArgument, saying what to use instead", () => {
    let caught: unknown;
    try {
      nodeFileSystem();
    } catch (err) {
      caught = err;
    }
    expect(isConcordError(caught) && caught.code === "InvalidArgument").toBe(true);
    expect(String((caught as Error).message)).toMatch(/indexedDbStorage\(\)/);
  });
});
