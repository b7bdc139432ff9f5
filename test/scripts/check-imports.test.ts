import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error -- plain ESM script without type declarations
import { check } from "../../scripts/check-imports.mjs";

const roots: string[] = [];
function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "concord-imports-"));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe("check-imports", () => {
  it("passes the repository itself", () => {
    expect(check(process.cwd())).toEqual([]);
  });

  it("reports a circular import with its path", () => {
    const root = fixture({
      "src/a.ts": 'import { b } from "./b.js";\nexport const a = 1;',
      "src/b.ts": 'import type { a } from "./a.js";\nexport const b = 2;',
    });
    const findings: string[] = check(root);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatch(/circular import: src\/a\.ts -> src\/b\.ts -> src\/a\.ts/);
  });

  it("reports clocks, randomness, timers and node imports in pure folders only", () => {
    const root = fixture({
      "src/sim/bad.ts": [
        'import { readFile } from "node:fs";',
        "export const t = Date.now();",
        "export const r = Math.random();",
        "setTimeout(() => {}, 1);",
        "// Date.now() in a comment is fine",
        'export const s = "setTimeout in a string is fine";',
      ].join("\n"),
      "src/net/ok.ts": 'import { readFile } from "node:fs";\nexport const t = Date.now();',
    });
    const findings: string[] = check(root);
    expect(findings).toEqual([
      "impure import: src/sim/bad.ts (pure) imports node:fs",
      "impure code: src/sim/bad.ts:2 uses Date (wall clock): take time as ticks or an injected Clock",
      "impure code: src/sim/bad.ts:3 uses Math.random: take an injected Rng",
      "impure code: src/sim/bad.ts:4 uses timers: the driver owns time",
    ]);
  });

  it("reports a pure module importing an impure one", () => {
    const root = fixture({
      "src/eventual/sync/core.ts":
        'import { x } from "../../net/socket.js";\nimport type { T } from "../../net/types.js";\nexport const y: T = x;',
      "src/net/socket.ts": "export const x = 1;",
      "src/net/types.ts": "export type T = number;",
    });
    expect(check(root)).toEqual([
      "impure import: src/eventual/sync/core.ts (pure) imports ../../net/socket.js, which is not pure",
    ]);
  });
});
