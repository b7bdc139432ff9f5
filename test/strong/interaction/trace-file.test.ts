/**
 * The trace machinery itself: the file parser (errors name the line), the renderer (rewrites keep
 * comments and commands), the command runner (bad commands fail loudly) and the mismatch report.
 */
import { describe, expect, it } from "vitest";
import { describeMismatches, lineDiff, runTrace, withContext } from "./run-trace.js";
import { parseCommandAt, parseTrace, renderTrace, TraceSyntaxError } from "./trace-file.js";

const SAMPLE = `# A comment before the first block.

add-nodes 3 voters=(1,2,3) index=10
----
1: term=1 commit=10 last=1/10 voters=(1,2,3) learners=()
2: term=1 commit=10 last=1/10 voters=(1,2,3) learners=()
3: term=1 commit=10 last=1/10 voters=(1,2,3) learners=()

# Nothing to do yet.
process-ready 1
----
<empty Ready>

status 1
----
1 follower term=1 vote=none leader=none commit=10 applied=10 last=10
voters=(1,2,3) learners=()
`;

describe("trace file parser", () => {
  it("parses blocks with their line, command arguments, expected output and preceding comments", () => {
    const f = parseTrace("sample.txt", SAMPLE);
    expect(f.blocks.map((b) => [b.line, b.command.name, b.expected.length])).toEqual([
      [3, "add-nodes", 3],
      [10, "process-ready", 1],
      [14, "status", 2],
    ]);
    expect(f.blocks[0]?.command.args).toEqual([
      { key: null, values: ["3"] },
      { key: "voters", values: ["1", "2", "3"] },
      { key: "index", values: ["10"] },
    ]);
    expect(f.blocks[1]?.preamble).toEqual(["# Nothing to do yet."]);
  });

  it("renders a parsed file back byte for byte, and substitutes new outputs only", () => {
    const f = parseTrace("sample.txt", SAMPLE);
    expect(renderTrace(f)).toBe(SAMPLE);
    const outputs = f.blocks.map((b) => b.expected);
    const changed = renderTrace(f, [outputs[0] ?? [], ["something else"], outputs[2] ?? []]);
    expect(changed).toBe(SAMPLE.replace("<empty Ready>", "something else"));
  });

  it("keeps empty outputs and trailing comments", () => {
    const src = "heal\n----\n\n# the end\n";
    const f = parseTrace("t.txt", src);
    expect(f.blocks[0]?.expected).toEqual([]);
    expect(f.trailer).toEqual(["# the end"]);
    expect(renderTrace(f)).toBe(src);
  });

  it("reads quoted strings and lists as single values", () => {
    const c = parseCommandAt("x:1", 'propose 1 "hello world" drop=(2, 3) partition (1) () ctx="a=b"');
    expect(c.args).toEqual([
      { key: null, values: ["1"] },
      { key: null, values: ["hello world"] },
      { key: "drop", values: ["2", "3"] },
      { key: null, values: ["partition"] },
      { key: null, values: ["1"] },
      { key: null, values: [] },
      { key: "ctx", values: ["a=b"] },
    ]);
  });

  it.each([
    ["a command without a separator", "campaign 1\nok\n", /t\.txt:1: command "campaign 1" must be followed by a "----" line, found "ok"/],
    ["a command at the end of the file", "heal\n----\nok\n\nstatus 1\n", /t\.txt:5: command "status 1" must be followed by .*the end of the file/],
    ["a separator without a command", "# c\n----\nok\n", /t\.txt:2: "----" with no command line before it/],
    ["an unclosed list", "partition (1 (2,3)\n----\n", /t\.txt:1: "\(" not closed/],
    ["an unterminated string", 'propose 1 "x\n----\n', /t\.txt:1: unterminated string/],
    ["a stray parenthesis", "heal )\n----\n", /t\.txt:1: "\)" without a matching "\("/],
    ["a bad command name", "Campaign 1\n----\n", /t\.txt:1: a command starts with a name/],
  ])("rejects %s, naming the line", (_what, src, message) => {
    expect(() => parseTrace("t.txt", src)).toThrow(TraceSyntaxError);
    expect(() => parseTrace("t.txt", src)).toThrow(message);
  });

  it("refuses to render an output with a blank line (it would end the block early)", () => {
    const f = parseTrace("t.txt", "heal\n----\nok\n");
    expect(() => renderTrace(f, [["a", "", "b"]])).toThrow(/t\.txt:1: output of "heal" has a blank line/);
  });
});

describe("trace runner", () => {
  it("names the file and line of an unknown command or a bad argument", () => {
    expect(() => runTrace(parseTrace("t.txt", "heal\n----\nok\n\nfrobnicate 1\n----\n"))).toThrow(/t\.txt:5: "frobnicate 1" failed: .*unknown command "frobnicate"/);
    expect(() => runTrace(parseTrace("t.txt", "add-nodes 1 voters=(1) bogus=3\n----\n"))).toThrow(/t\.txt:1: .*unexpected argument\(s\) bogus=/);
    expect(() => runTrace(parseTrace("t.txt", "add-nodes 1 voters=(1)\n----\n\ncampaign 9\n----\n"))).toThrow(/t\.txt:4: .*no server 9/);
  });

  it("reports the first mismatching block with a line diff, and where the others are", () => {
    const run = runTrace(parseTrace("t.txt", SAMPLE.replace("<empty Ready>", "<full Ready>").replace("applied=10", "applied=9")));
    expect(run.mismatches.map((m) => m.block.line)).toEqual([10, 14]);
    const report = describeMismatches("t.txt", run.mismatches);
    expect(report).toContain('t.txt:10: output of "process-ready 1" differs from the golden file');
    expect(report).toContain("- <full Ready>\n+ <empty Ready>");
    expect(report).toContain("later block(s) differ too, at line(s) 14");
  });

  it("deliver-msgs lets through only the given types and drops messages from the given senders", () => {
    const cmds = ["add-nodes 3 voters=(1,2,3) index=10 prevote=false", "campaign 1", "process-ready 1", "deliver-msgs 2 drop=(1)", "deliver-msgs 3 type=(append)", "deliver-msgs 3 type=vote"];
    const run = runTrace(parseTrace("t.txt", cmds.map((c) => `${c}\n----\n`).join("\n")));
    expect(run.outputs.slice(3)).toEqual([
      ["DROP 1->2 vote term=2 last=1/10"],
      [],
      ["1->3 vote term=2 last=1/10", "INFO 3 became follower at term 2"],
    ]);
  });

  it("diffs lines by longest common subsequence", () => {
    expect(lineDiff(["a", "b", "c"], ["a", "x", "c", "d"])).toEqual(["  a", "- b", "+ x", "  c", "+ d"]);
  });

  it("collapses unchanged lines far from any change", () => {
    const same = Array.from({ length: 10 }, (_, i) => `l${i}`);
    const diff = lineDiff([...same, "old", ...same], [...same, "new", ...same]);
    expect(withContext(diff, 2)).toEqual(["  ... (8 unchanged lines)", "  l8", "  l9", "- old", "+ new", "  l0", "  l1", "  ... (8 unchanged lines)"]);
  });
});
