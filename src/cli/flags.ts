/** Command-line flag parsing shared by every `concord` subcommand. */
import { readFileSync } from "node:fs";
import { atLeast, LOG_LEVELS, stderrLogSink, type LogLevel, type LogSink } from "../ops/log.js";

/** Bad usage: the CLI prints the message and the usage text, and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Parses `--flag value` pairs; unknown flags, stray arguments and missing values are {@link UsageError}s. */
export function parseFlags(args: readonly string[], known: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const name = arg.slice(2);
    if (!known.includes(name)) throw new UsageError(`unknown flag --${name} (known: ${known.map((k) => `--${k}`).join(", ")})`);
    const value = args[i + 1];
    if (value === undefined || value.startsWith("--")) throw new UsageError(`--${name} needs a value`);
    if (flags.has(name)) throw new UsageError(`--${name} is given twice: give it once`);
    flags.set(name, value);
    i++;
  }
  return flags;
}

/** The integer `--<name>` gives (`fallback` when absent); a {@link UsageError} unless it is from `min` to `max`. */
export function integerFlag(flags: ReadonlyMap<string, string>, name: string, fallback: number, min: number, max: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** The non-empty `--<name>` (`fallback` when absent); a {@link UsageError} for an empty one. */
export function textFlag(flags: ReadonlyMap<string, string>, name: string, fallback: string, what: string): string {
  const value = flags.get(name) ?? fallback;
  if (value.length === 0) throw new UsageError(`--${name} needs a non-empty ${what}`);
  return value;
}

/** Where `--log-level` (default info) lets log entries through: JSON lines on stderr. */
export function logSinkFlag(flags: ReadonlyMap<string, string>): LogSink {
  const level = flags.get("log-level") ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(level)}`);
  }
  return atLeast(level as LogLevel, stderrLogSink);
}

/** The contents of a file named by `--<flag>` (a PEM, a secret); a {@link UsageError} if it can't be read or is empty. */
export function readPem(flag: string, path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    throw new UsageError(`--${flag}: cannot read ${path} (${(e as { code?: string }).code ?? String(e)})`);
  }
  if (pem.length === 0) throw new UsageError(`--${flag}: ${path} is empty`);
  return pem;
}
