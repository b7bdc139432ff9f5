/**
 * Child processes of a lab run on real processes (`concord lab --real`): a node started with
 * `process.execPath` and awaited until it prints its ready line, killed with SIGKILL (a crash: what
 * it had not fsynced is lost), frozen with SIGSTOP and woken with SIGCONT (a pause), and its temp
 * folder. Every child still running when the lab's process exits is killed, however it exits, and
 * every temp folder is removed: a failed run leaves nothing behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConcordError } from "../errors.js";

const live = new Set<ChildProcess>();
const folders = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });
}

/** A fresh temp folder, removed by {@link removeLabFolder} or when the process exits. */
export function labFolder(prefix: string): string {
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.add(dir);
  return dir;
}

export function removeLabFolder(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  folders.delete(dir);
}

/** Ports below the kernel's ephemeral range (Linux: 32768 and up) that restartable servers take. */
export interface PortRange {
  readonly from: number;
  readonly size: number;
}

const RESTARTABLE: PortRange = { from: 20_000, size: 12_000 };
/** Ports this process handed out: never twice. */
const handedOut = new Set<number>();
let cursor = Math.floor(Math.random() * 1_000_000);

/**
 * A loopback port nobody listens on now, for a server that must restart on the same URL. Not one
 * the OS picks (port 0): that comes from the kernel's ephemeral range, where an outgoing connection
 * may take it as its local port while the server is down, and the restart then fails with
 * EADDRINUSE. So: below that range, never twice in one process, and checked free.
 */
export async function restartablePort(range: PortRange = RESTARTABLE): Promise<number> {
  for (let attempt = 0; attempt < range.size; attempt++) {
    const port = range.from + (cursor++ % range.size);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${range.from}-${range.from + range.size - 1}`);
}

/** True when a server can listen on `port` of 127.0.0.1 right now (it is closed again at once). */
async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  return listening;
}

/** How long a child has to print its ready line. */
export const READY_WITHIN_MS = 20_000;
const TAIL_LINES = 12;

/** One running child. */
export class LabProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Its first stdout line matching the ready pattern. */
  readonly ready: string;
  readonly #stderr: string[];
  readonly exited: Promise<void>;
  #paused = false;

  private constructor(name: string, child: ChildProcess, ready: string, stderr: string[], exited: Promise<void>) {
    this.name = name;
    this.child = child;
    this.ready = ready;
    this.#stderr = stderr;
    this.exited = exited;
  }

  /**
   * Starts `process.execPath ...args` and resolves once a stdout line matches `ready`.
   * @throws ConcordError `Unavailable` naming the child and its last stderr lines when it exits
   *   first or prints nothing matching within {@link READY_WITHIN_MS}.
   */
  static start(name: string, args: readonly string[], ready: RegExp, onLine?: (line: string) => void): Promise<LabProcess> {
    hookExit();
    const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
    live.add(child);
    const stderr: string[] = [];
    child.stdin!.on("error", () => undefined); // writing to a killed child
    const exited = new Promise<void>((resolve) => child.once("exit", () => (live.delete(child), resolve())));
    eachLine(child.stderr!, (line) => {
      stderr.push(line);
      if (stderr.length > TAIL_LINES) stderr.shift();
    });
    return new Promise<LabProcess>((resolve, reject) => {
      let started: LabProcess | null = null;
      const fail = (why: string): void => {
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(new ConcordError("Unavailable", `${name} ${why}; its last stderr lines:\n${stderr.join("\n")}`, { process: name }));
      };
      const timer = setTimeout(() => fail(`printed no ready line within ${READY_WITHIN_MS} ms`), READY_WITHIN_MS);
      child.once("exit", (code, signal) => {
        if (started === null) fail(`exited (${code ?? signal}) before it was ready`);
      });
      eachLine(child.stdout!, (line) => {
        if (started === null && ready.test(line)) {
          clearTimeout(timer);
          started = new LabProcess(name, child, line, stderr, exited);
          resolve(started);
        } else if (started !== null) onLine?.(line);
      });
    });
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Its last stderr lines, for an error message. */
  stderrTail(): string {
    return this.#stderr.join("\n");
  }

  /** Sends `line` to its stdin. */
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** SIGKILL; resolves once it exited. */
  async kill(): Promise<void> {
    this.#paused = false;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGSTOP: frozen, its connections open, believing what it believed. */
  pause(): void {
    if (this.#paused) return;
    this.child.kill("SIGSTOP");
    this.#paused = true;
  }

  /** SIGCONT. */
  resume(): void {
    if (!this.#paused) return;
    this.child.kill("SIGCONT");
    this.#paused = false;
  }
}

/** Calls `each` with every complete line `stream` gives (UTF-8). */
export function eachLine(stream: NodeJS.ReadableStream, each: (line: string) => void): void {
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    partial += chunk;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) each(line);
  });
}
