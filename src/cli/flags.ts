/** Command-line flag parsing shared by every `concord` subcommand. */

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
    flags.set(name, value);
    i++;
  }
  return flags;
}
