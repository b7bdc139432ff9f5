/**
 * The golden trace file format (our take on etcd-raft's datadriven `testdata/*.txt`).
 *
 * A file is a sequence of blocks. Each block is one command line, a `----` line, then the
 * expected output (zero or more non-blank lines), ended by a blank line or the end of the file:
 *
 * ```text
 * # Comment lines (and blank lines) between blocks are kept verbatim on rewrite.
 * campaign 1
 * ----
 * ok
 *
 * status 1
 * ----
 * 1 pre-candidate term=1 vote=none leader=none commit=3 applied=3 last=3
 * ```
 *
 * A command line is `name arg arg key=value key=(a,b) ...`: whitespace-separated tokens, where a
 * parenthesised list `(a,b,c)` is one value and `"double quoted"` text may hold spaces. Outputs
 * never contain blank lines (the environment guarantees it), so a blank line always ends a block.
 */

/** One argument of a command: positional (`key` null) or `key=value`; a `(a,b)` list gives several values. */
export interface CommandArg {
  readonly key: string | null;
  readonly values: readonly string[];
}

/** A parsed command line. */
export interface TraceCommand {
  readonly name: string;
  readonly args: readonly CommandArg[];
  /** The line exactly as written (kept on rewrite). */
  readonly text: string;
}

/** One block of a trace file. */
export interface TraceBlock {
  /** Comment and blank lines between the previous block and this command, verbatim. */
  readonly preamble: readonly string[];
  /** 1-based line number of the command in the file. */
  readonly line: number;
  readonly command: TraceCommand;
  /** The expected output, one string per line. */
  readonly expected: readonly string[];
}

/** A parsed trace file. */
export interface TraceFile {
  readonly name: string;
  readonly blocks: readonly TraceBlock[];
  /** Comment and blank lines after the last block, verbatim. */
  readonly trailer: readonly string[];
}

/** A malformed trace file or command line; the message names the file and line. */
export class TraceSyntaxError extends Error {
  override readonly name = "TraceSyntaxError";
}

const SEPARATOR = "----";

const isFiller = (line: string): boolean => line.trim() === "" || line.startsWith("#");

/**
 * Parses the text of a trace file. Throws {@link TraceSyntaxError} naming `name` and the line for:
 * a command not followed by `----`, a `----` with no command before it, a malformed command line.
 */
export function parseTrace(name: string, source: string): TraceFile {
  const lines = source.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  const blocks: TraceBlock[] = [];
  let preamble: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    if (isFiller(line)) {
      preamble.push(line);
      i++;
      continue;
    }
    const where = `${name}:${i + 1}`;
    if (line === SEPARATOR) throw new TraceSyntaxError(`${where}: "${SEPARATOR}" with no command line before it`);
    const next = lines[i + 1];
    if (next !== SEPARATOR) {
      const found = next === undefined ? "the end of the file" : `"${next}"`;
      throw new TraceSyntaxError(`${where}: command "${line}" must be followed by a "${SEPARATOR}" line, found ${found}`);
    }
    const command = parseCommandAt(where, line);
    const expected: string[] = [];
    let j = i + 2;
    while (j < lines.length && (lines[j] ?? "").trim() !== "") {
      expected.push(lines[j] ?? "");
      j++;
    }
    blocks.push({ preamble, line: i + 1, command, expected });
    preamble = [];
    // The blank line ending the block belongs to it.
    i = j < lines.length ? j + 1 : j;
  }
  return { name, blocks, trailer: preamble };
}

/**
 * Renders `file` with `outputs[i]` as the output of block i (default: its expected output).
 * Comments, blank lines and commands come out as they were read, so
 * `renderTrace(parseTrace(n, s)) === s` for a file that ends with a newline.
 */
export function renderTrace(file: TraceFile, outputs?: readonly (readonly string[])[]): string {
  const out: string[] = [];
  file.blocks.forEach((block, i) => {
    out.push(...block.preamble, block.command.text, SEPARATOR);
    const lines = outputs?.[i] ?? block.expected;
    for (const l of lines) {
      if (l.trim() === "") throw new TraceSyntaxError(`${file.name}:${block.line}: output of "${block.command.text}" has a blank line`);
    }
    out.push(...lines);
    const last = i === file.blocks.length - 1;
    if (!last || file.trailer.length > 0) out.push("");
  });
  out.push(...file.trailer);
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}

/** Parses one command line (`where` prefixes error messages, e.g. "file.txt:12"). */
export function parseCommandAt(where: string, text: string): TraceCommand {
  const tokens = tokenize(where, text);
  const [name, ...rest] = tokens;
  if (name === undefined || !/^[a-z][a-z0-9-]*$/.test(name)) {
    throw new TraceSyntaxError(`${where}: a command starts with a name like "campaign", found "${name ?? ""}"`);
  }
  const args = rest.map((token): CommandArg => {
    const eq = token.indexOf("=");
    const quoted = token.startsWith('"');
    if (eq > 0 && !quoted && !token.startsWith("(")) {
      const key = token.slice(0, eq);
      if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(key)) throw new TraceSyntaxError(`${where}: bad argument name "${key}"`);
      return { key, values: values(where, token.slice(eq + 1)) };
    }
    return { key: null, values: values(where, token) };
  });
  return { name, args, text };
}

/** `(a,b)` → [a, b]; `()` → []; `"x y"` → ["x y"]; `v` → [v]. */
function values(where: string, token: string): string[] {
  if (token.startsWith('"')) return [unquote(where, token)];
  if (!token.startsWith("(")) {
    if (token === "") throw new TraceSyntaxError(`${where}: empty argument value`);
    return [token];
  }
  if (!token.endsWith(")")) throw new TraceSyntaxError(`${where}: list "${token}" is not closed with ")"`);
  const inner = token.slice(1, -1).trim();
  if (inner === "") return [];
  return inner.split(",").map((v) => {
    const s = v.trim();
    if (s === "") throw new TraceSyntaxError(`${where}: empty element in list "${token}"`);
    return s;
  });
}

function unquote(where: string, token: string): string {
  try {
    const v: unknown = JSON.parse(token);
    if (typeof v === "string") return v;
  } catch {
    // reported below
  }
  throw new TraceSyntaxError(`${where}: bad quoted string ${token}`);
}

/** Splits on whitespace, keeping `(...)` lists and `"..."` strings (also after `key=`) whole. */
function tokenize(where: string, text: string): string[] {
  const tokens: string[] = [];
  let cur = "";
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? "";
    if (quoted) {
      cur += c;
      if (c === "\\") cur += text[++i] ?? "";
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === "(") depth++;
    else if (c === ")") {
      if (depth === 0) throw new TraceSyntaxError(`${where}: ")" without a matching "(" in "${text}"`);
      depth--;
    }
    if (/\s/.test(c) && depth === 0) {
      if (cur !== "") tokens.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  if (quoted) throw new TraceSyntaxError(`${where}: unterminated string in "${text}"`);
  if (depth > 0) throw new TraceSyntaxError(`${where}: "(" not closed in "${text}"`);
  if (cur !== "") tokens.push(cur);
  return tokens;
}
