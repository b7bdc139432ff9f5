// Prints the mutation score of each pure core, and of each file with --files, from the report
// `npm run mutate` wrote (reports/mutation/mutation.json), as a Markdown table.
//
//   node scripts/mutation-summary.mjs [--files] [--survivors <file-suffix>] [report.json]
//
// Score = (killed + timed out) / (killed + timed out + survived + not covered), as StrykerJS counts
// it; mutants that do not compile or are ignored are left out. --survivors lists the surviving and
// uncovered mutants of the files whose path ends with the suffix, with the code they change.
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const perFile = args.includes("--files");
const survivorsAt = args.indexOf("--survivors");
const survivorsOf = survivorsAt >= 0 ? args[survivorsAt + 1] : undefined;
const path = args.find((a, i) => !a.startsWith("--") && i !== survivorsAt + 1) ?? "reports/mutation/mutation.json";

let report;
try {
  report = JSON.parse(readFileSync(path, "utf8"));
} catch (e) {
  console.error(`mutation-summary: cannot read ${path} (${e instanceof Error ? e.message : String(e)}); run npm run mutate first`);
  process.exit(2);
}

const CORES = [
  ["strong/raft/", "src/strong/raft/"],
  ["primary/replication/", "src/primary/replication/"],
  ["storage/record.ts", "src/storage/record.ts"],
  ["eventual/sync/", "src/eventual/sync/"],
];

const empty = () => ({ files: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0 });
const add = (into, c) => {
  for (const k of ["killed", "timeout", "survived", "noCoverage"]) into[k] += c[k];
};
const valid = (c) => c.killed + c.timeout + c.survived + c.noCoverage;
const score = (c) => (valid(c) === 0 ? "-" : `${(((c.killed + c.timeout) / valid(c)) * 100).toFixed(1)}%`);
const row = (name, c) => `| ${name} | ${valid(c)} | ${c.killed} | ${c.timeout} | ${c.survived} | ${c.noCoverage} | ${score(c)} |`;

const byCore = new Map(CORES.map(([name]) => [name, empty()]));
const fileRows = [];
const survivors = [];
for (const [file, { mutants, source }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
  const c = empty();
  for (const m of mutants) {
    if (m.status === "Killed") c.killed++;
    else if (m.status === "Timeout") c.timeout++;
    else if (m.status === "Survived") c.survived++;
    else if (m.status === "NoCoverage") c.noCoverage++;
    if (survivorsOf !== undefined && file.endsWith(survivorsOf) && (m.status === "Survived" || m.status === "NoCoverage")) {
      const { start, end } = m.location;
      const line = source.split("\n")[start.line - 1] ?? "";
      const original = line.slice(start.column - 1, end.line === start.line ? end.column - 1 : undefined);
      survivors.push(`${file}:${start.line} ${m.status} ${m.mutatorName}: ${original.trim()} -> ${(m.replacement ?? "").split("\n")[0]}`);
    }
  }
  const core = CORES.find(([, prefix]) => file.includes(prefix));
  if (core === undefined) continue;
  const total = byCore.get(core[0]);
  total.files++;
  add(total, c);
  fileRows.push(row(`\`${file.slice(file.indexOf(core[1]) + 4)}\``, c));
}

const header = ["| | mutants | killed | timed out | survived | not covered | score |", "|---|---|---|---|---|---|---|"];
const all = empty();
const lines = [...header];
for (const [name, c] of byCore) {
  if (c.files === 0) continue;
  add(all, c);
  lines.push(row(`\`${name}\` (${c.files} file${c.files === 1 ? "" : "s"})`, c));
}
lines.push(row("**all cores**", all));
console.log(lines.join("\n"));
if (perFile) console.log(["", ...header, ...fileRows].join("\n"));
if (survivorsOf !== undefined) console.log(["", ...survivors].join("\n"));
