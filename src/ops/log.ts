/**
 * Structured logs of Concord's servers (the sync server, the node servers of every mode): one JSON
 * object per event, one line each, so that a log shipper (or `jq`) can read them. The CLI writes
 * them to stderr; an embedding app passes its own sink (`startServer({ onLog })`,
 * `startNodeServer({ log })`).
 *
 * Every entry has `time` (ISO 8601, wall clock: logs are for people and tools, never for
 * correctness), `level`, `event` (a stable dotted name such as `conn.open`), and, when they apply,
 * `doc` (the room) and `conn` (the connection id); other fields depend on the event.
 */

/** How much an entry matters. `error`: something failed that an operator should look at. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** One log event. Field values are JSON-serialisable (errors are turned into `{ name, code, message }`). */
export interface LogEntry {
  readonly time: string;
  readonly level: LogLevel;
  readonly event: string;
  readonly doc?: string;
  readonly conn?: string;
  readonly [field: string]: unknown;
}

/** Where log entries go. MAY throw: a throwing sink is ignored, never allowed to break the server. */
export type LogSink = (entry: LogEntry) => void;

/** Fields of an entry besides `time`, `level` and `event`. */
export type LogFields = Readonly<Record<string, unknown>> & { readonly doc?: string; readonly conn?: string };

/** The entry as one line of JSON (no trailing newline). Never throws. */
export function formatLogLine(entry: LogEntry): string {
  try {
    return JSON.stringify(entry, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
  } catch {
    return JSON.stringify({ time: entry.time, level: entry.level, event: entry.event, note: "fields not serialisable" });
  }
}

/** A sink that writes each entry as a JSON line to the process's stderr. */
export const stderrLogSink: LogSink = (entry) => {
  process.stderr.write(`${formatLogLine(entry)}\n`);
};

const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** `sink`, passed only entries at `level` or more severe (`"warn"`: warn and error). */
export function atLeast(level: LogLevel, sink: LogSink): LogSink {
  const min = LEVEL_RANK[level];
  return (entry) => {
    if (LEVEL_RANK[entry.level] >= min) sink(entry);
  };
}

/** A sink that drops everything. */
export const silentLogSink: LogSink = () => undefined;

/** Turns an error into fields a JSON line can hold, keeping the Concord error `code` when there is one. */
export function errorFields(error: unknown): { name: string; code?: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, ...(typeof code === "string" ? { code } : {}), message: error.message };
  }
  return { name: typeof error, message: String(error) };
}

/** Builds entries (stamping time and level) and hands them to a sink, shielding the caller from it. */
export class ServerLog {
  constructor(
    private readonly sink: LogSink,
    private readonly wallClock: () => Date = () => new Date(),
  ) {}

  debug(event: string, fields: LogFields = {}): void {
    this.write("debug", event, fields);
  }

  info(event: string, fields: LogFields = {}): void {
    this.write("info", event, fields);
  }

  warn(event: string, fields: LogFields = {}): void {
    this.write("warn", event, fields);
  }

  error(event: string, fields: LogFields = {}): void {
    this.write("error", event, fields);
  }

  private write(level: LogLevel, event: string, fields: LogFields): void {
    try {
      const entry: Record<string, unknown> = { time: this.wallClock().toISOString(), level, event };
      for (const [key, value] of Object.entries(fields)) {
        if (key in entry) continue; // time, level and event are the logger's
        entry[key] = value instanceof Error ? errorFields(value) : value;
      }
      this.sink(entry as unknown as LogEntry);
    } catch {
      // A broken sink must not take connections or rooms down with it; there is nowhere to report.
    }
  }
}
