#!/usr/bin/env node
/**
 * Architecture checks that fail the build (run by `npm test`):
 *  1. no circular imports among src/ modules (type-only imports included: a cycle of types is
 *     still a cycle of concepts);
 *  2. pure code (consensus and sync cores, the simulator) uses no wall clock, no ambient
 *     randomness, no timers, no process globals and no `node:`/builtin imports, and imports only
 *     other pure modules or packages (`import type` of anything is fine: it is erased).
 *
 * Usage: node scripts/check-imports.mjs [root]   (root defaults to the repo; tests pass a fixture)
 * Exit 0 when clean; 1 with one line per finding.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";

/** Folders and files whose code must be deterministic and free of I/O (relative to src/). */
export const PURE = ["sim/", "eventual/sync/", "strong/raft/", "strong/sessions.ts", "strong/commands.ts", "strong/state-machine.ts", "strong/raft-wal.ts", "lab/history.ts", "lab/linearizability.ts", "primary/replication/", "kv/", "codec/", "service/protocol.ts", "service/protocol-codec.ts", "storage/record.ts", "rng.ts", "ids.ts", "errors.ts", "json.ts"];

/** Identifiers pure code may not touch, with the reason shown to the developer. */
const FORBIDDEN = [
  [/\bDate\b/, "Date (wall clock): take time as ticks or an injected Clock"],
  [/\bMath\.random\b/, "Math.random: take an injected Rng"],
  [/\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|queueMicrotask|requestAnimationFrame)\b/, "timers: the driver owns time"],
  [/\bprocess\b/, "process: pure code has no environment"],
  [/\bperformance\b/, "performance (clock): take an injected Clock"],
  [/\bcrypto\b/, "crypto (randomness): take an injected Rng"],
  [/\brequire\s*\(/, "require: ESM imports only"],
];

const BUILTINS = new Set(builtinModules);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Source with comments and string/template contents blanked, so tokens in prose don't count. */
function codeOnly(src) {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/\/\/[^\n]*/g, "")
    .replace(/(["'`])(?:\\.|(?!\1)[^\\\n])*\1/g, (m) => m[0] + " ".repeat(Math.max(0, m.length - 2)) + m[0]);
}

/** Import specifiers of a module; `typeOnly` marks `import type`/`export type` (erased at run time). */
function importsOf(src) {
  const specs = [];
  const re = /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of src.matchAll(re)) specs.push({ spec: m[2] ?? m[3], typeOnly: Boolean(m[1]) });
  return specs;
}

function isPure(relFromSrc) {
  const r = relFromSrc.split(sep).join("/");
  return PURE.some((p) => (p.endsWith("/") ? r.startsWith(p) : r === p));
}

export function check(root) {
  const srcDir = resolve(root, "src");
  const files = walk(srcDir);
  const graph = new Map();
  const findings = [];
  for (const file of files) {
    const src = readFileSync(file, "utf8");
    const rel = relative(srcDir, file);
    const pure = isPure(rel);
    const deps = [];
    for (const { spec, typeOnly } of importsOf(src)) {
      if (spec.startsWith(".")) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
        deps.push(target);
        if (pure && !typeOnly && !isPure(relative(srcDir, target))) {
          findings.push(`impure import: src/${rel} (pure) imports ${spec}, which is not pure`);
        }
      } else if (pure && (spec.startsWith("node:") || BUILTINS.has(spec.split("/")[0]))) {
        findings.push(`impure import: src/${rel} (pure) imports ${spec}`);
      }
    }
    graph.set(file, deps);
    if (pure) {
      const code = codeOnly(src);
      code.split("\n").forEach((line, i) => {
        for (const [re, why] of FORBIDDEN) {
          if (re.test(line)) findings.push(`impure code: src/${rel}:${i + 1} uses ${why}`);
        }
      });
    }
  }
  for (const cycle of cycles(graph)) {
    findings.push(`circular import: ${cycle.map((f) => relative(root, f)).join(" -> ")}`);
  }
  return findings;
}

/** Every elementary cycle found by DFS, reported once per strongly connected loop entry. */
function cycles(graph) {
  const found = [];
  const state = new Map(); // 1 = on stack, 2 = done
  const stack = [];
  const visit = (node) => {
    state.set(node, 1);
    stack.push(node);
    for (const dep of graph.get(node) ?? []) {
      if (!graph.has(dep)) continue;
      if (state.get(dep) === 1) found.push([...stack.slice(stack.indexOf(dep)), dep]);
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(node, 2);
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

const invokedDirectly = process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (invokedDirectly) {
  const root = resolve(process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), ".."));
  const findings = check(root);
  if (findings.length > 0) {
    for (const f of findings) console.error(f);
    console.error(`check-imports: ${findings.length} finding(s)`);
    process.exit(1);
  }
  console.log("check-imports: no cycles, pure code is pure");
}
