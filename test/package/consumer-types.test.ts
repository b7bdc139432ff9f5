/**
 * The package as an app installs it: `npm pack` of the built package (run after `npm run build`,
 * as `npm test` does) unpacked into a fresh project's node_modules beside its runtime dependencies
 * only (none of our dev dependencies), then type-checked the way a strict consumer does, with
 * `skipLibCheck: false`:
 *
 * - a browser app (DOM, no Node types at all) importing `concord-store`;
 * - a Node app importing `concord-store`, `concord-store/server` and `concord-store/node`.
 *
 * And what ships: a LICENSE, and source maps that carry their sources (the `src/` they point at
 * is not in the package).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
let project: string;
let pkg: string;

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/index.js"))) throw new Error("dist/ is missing: run `npm run build` first (npm test does)");
  project = mkdtempSync(join(tmpdir(), "concord-consumer-"));
  const modules = join(project, "node_modules");
  pkg = join(modules, "concord-store");
  mkdirSync(pkg, { recursive: true });
  const packed = execFileSync("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", project, ROOT], { encoding: "utf8" }).trim().split("\n").pop() ?? "";
  execFileSync("tar", ["xzf", join(project, packed), "-C", pkg, "--strip-components=1"]);
  // The runtime dependencies, as npm would install them (their own dependencies resolve from
  // where they really live); a Node app also has @types/node.
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  for (const dep of [...Object.keys(manifest.dependencies), "@types/node"]) {
    const at = join(modules, dep);
    mkdirSync(resolve(at, ".."), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", dep), at, "dir");
  }
  writeFileSync(join(project, "package.json"), JSON.stringify({ type: "module", private: true }));
}, 60_000);

afterAll(() => {
  rmSync(project, { recursive: true, force: true });
});

/** Type-checks `source` with `options`; returns tsc's diagnostics ("" when clean). */
function typecheck(name: string, source: string, options: Record<string, unknown>): string {
  writeFileSync(join(project, `${name}.ts`), source);
  const config = {
    compilerOptions: { target: "ES2022", strict: true, skipLibCheck: false, noEmit: true, ...options },
    files: [`${name}.ts`],
  };
  writeFileSync(join(project, `tsconfig.${name}.json`), JSON.stringify(config));
  try {
    execFileSync(process.execPath, [TSC, "-p", `tsconfig.${name}.json`], { cwd: project, encoding: "utf8" });
    return "";
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err);
  }
}

describe("concord-store installed in an app", () => {
  it("a browser app's types check with skipLibCheck off and no Node types", () => {
    const out = typecheck(
      "browser",
      `import { openStore, openEventualStore, indexedDbStorage, isConcordError, type EventualStore, type StrongStore } from "concord-store";
       export const local: Promise<EventualStore> = openEventualStore({ mode: "eventual", doc: "todos", persistence: indexedDbStorage(), sync: { url: "ws://localhost:4321/todos" } });
       export const strong: Promise<StrongStore> = openStore({ mode: "strong", doc: "todos", nodes: ["ws://localhost:6001"] });
       export const check = (e: unknown) => isConcordError(e) && e.code === "Unavailable";`,
      { module: "ESNext", moduleResolution: "Bundler", lib: ["ES2022", "DOM"], types: [] },
    );
    expect(out).toBe("");
  }, 60_000);

  it("a Node app's types check with skipLibCheck off, server and node entries included", () => {
    const out = typecheck(
      "server",
      `import { fileStorage, openStore } from "concord-store";
       import { startServer } from "concord-store/server";
       import { startNodeServer } from "concord-store/node";
       export const server = startServer({ port: 0, dataDir: "./data" });
       export const node = startNodeServer({ mode: "strong", id: "n1", port: 0, dataDir: "./n1", peers: new Map([["n1", "ws://127.0.0.1:6001"]]) });
       export const store = openStore({ mode: "eventual", doc: "todos", persistence: fileStorage("./todos") });`,
      // Yjs's own declarations name DOM types (Document, Node...), so every Yjs app needs the DOM lib.
      { module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM"], types: ["node"] },
    );
    expect(out).toBe("");
  }, 60_000);

  it("the package ships a LICENSE and source maps that carry their sources", () => {
    expect(readFileSync(join(pkg, "LICENSE"), "utf8")).toMatch(/^MIT License/);
    const maps: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith(".js.map")) maps.push(join(dir, e.name));
      }
    };
    walk(join(pkg, "dist"));
    expect(maps.length).toBeGreaterThan(50);
    const bare = maps.filter((m) => {
      const map = JSON.parse(readFileSync(m, "utf8")) as { sources: string[]; sourcesContent?: (string | null)[] };
      return map.sourcesContent?.length !== map.sources.length || map.sourcesContent.some((c) => typeof c !== "string" || c === "");
    });
    expect(bare).toEqual([]);
  });
});
