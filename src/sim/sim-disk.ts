/**
 * A simulated disk (DESIGN.md section 4, "Disk"): the {@link FileSystem} port in memory, with the
 * crash semantics of a real disk under a strict reading of POSIX, so the file storage's crash
 * safety is tested in simulation. Pure: randomness from the injected {@link Rng}, time (if any)
 * from the injected {@link Clock}.
 *
 * Model:
 * - A file has durable bytes (what survives a crash) and current bytes (what reads see).
 *   `sync(path)` makes the current bytes durable.
 * - A directory has durable and current entries. Creating a file, `mkdirp`, `rename` and `remove`
 *   change the current entries only; `syncDir(dir)` makes that directory's entries durable.
 *   Syncing a file does NOT make its directory entry durable, nor does syncing a directory make
 *   its files' bytes durable.
 * - {@link SimDisk.crash}: every mounted handle dies (its pending and future operations never
 *   settle: a dead process can't write after its crash). Each directory keeps its durable entries,
 *   plus each change made since its last `syncDir`, independently, with probability 1/2 (applied
 *   in order; a rename is atomic). Each file keeps its durable bytes plus, when its only changes
 *   since the last `sync` were appends, a random prefix (0 to all) of the appended bytes: a torn
 *   write. A file rewritten or truncated since its last `sync` reverts to its durable bytes.
 *   Entries in directories that did not survive are gone.
 *
 * Paths: `/`-separated, resolved from one root; leading or repeated `/` and `.` segments are
 * ignored, `..` is refused. Errors are `ConcordError` `Io` with `details: { op, path, errno }`.
 */
import type { Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import type { Rng } from "../rng.js";
import type { FileSystem } from "../storage/fs.js";

/** Names of the {@link FileSystem} operations, for fault injection. */
export type SimDiskOp = keyof FileSystem;

/** Options of a {@link SimDisk}. */
export interface SimDiskOptions {
  /** Decides torn-write lengths, which unsynced directory changes survive a crash, and latencies. */
  rng: Rng;
  /**
   * Without a clock every operation completes on a later microtask. With one, each completes
   * after a random latency in [`latencyMs.min`, `latencyMs.max`] ms via `clock.setTimer`, so a
   * crash can land while an operation (an fsync, say) is in flight. Effects apply on completion.
   */
  clock?: Clock;
  /** Default `{ min: 0, max: 1 }`; used only with `clock`. */
  latencyMs?: { min: number; max: number };
}

interface SimFile {
  readonly kind: "file";
  durable: Uint8Array;
  current: Uint8Array;
  /** True while every change since the last sync was an append (current extends durable). */
  appendOnly: boolean;
}

interface SimDir {
  readonly kind: "dir";
  durable: Map<string, SimNode>;
  current: Map<string, SimNode>;
  /** Changes to `current` since the last syncDir, in order. */
  changes: DirChange[];
}

type SimNode = SimFile | SimDir;

type DirChange =
  | { readonly kind: "link"; readonly name: string; readonly node: SimNode }
  | { readonly kind: "unlink"; readonly name: string }
  | { readonly kind: "rename"; readonly from: string; readonly to: string; readonly node: SimNode };

/** One process incarnation's view of the disk; dies at the next crash. */
interface Mount {
  alive: boolean;
}

const EMPTY = new Uint8Array(0);

/** A simulated disk with crash semantics; see the module documentation for the model. */
export class SimDisk {
  readonly #rng: Rng;
  readonly #clock: Clock | undefined;
  readonly #latency: { min: number; max: number };
  readonly #root: SimDir = newDir();
  #mounts: Mount[] = [];
  #fault: ((op: SimDiskOp, path: string) => boolean) | undefined;
  #syncCount = 0;
  #dirSyncCount = 0;

  constructor(options: SimDiskOptions) {
    this.#rng = options.rng;
    this.#clock = options.clock;
    this.#latency = options.latencyMs ?? { min: 0, max: 1 };
    if (!(this.#latency.min >= 0 && this.#latency.max >= this.#latency.min)) {
      throw new ConcordError("InvalidArgument", `SimDisk: latencyMs must satisfy 0 <= min <= max, got ${JSON.stringify(this.#latency)}`);
    }
  }

  /** File fsyncs completed so far (all mounts). */
  get syncCount(): number {
    return this.#syncCount;
  }

  /** Directory fsyncs completed so far (all mounts). */
  get dirSyncCount(): number {
    return this.#dirSyncCount;
  }

  /** A file system for one process incarnation. It dies at the next {@link crash}. */
  mount(): FileSystem {
    const mount: Mount = { alive: true };
    this.#mounts.push(mount);
    const run = <T>(op: SimDiskOp, path: string, effect: () => T): Promise<T> => this.#run(mount, op, path, effect);
    return {
      mkdirp: (dir) => run("mkdirp", dir, () => this.#mkdirp(dir)),
      list: (dir) => run("list", dir, () => this.#list(dir)),
      read: (path) => run("read", path, () => this.#read(path)),
      write: (path, bytes) => {
        const data = copy(bytes);
        return run("write", path, () => this.#write(path, data, "write"));
      },
      append: (path, bytes) => {
        const data = copy(bytes);
        return run("append", path, () => this.#write(path, data, "append"));
      },
      openAppend: async (path) => {
        // The handle's calls are this mount's append and sync, with their faults and crash
        // semantics; opening costs no operation (the first append creates the file).
        let open = true;
        const closed = (op: SimDiskOp): Promise<never> => Promise.reject(ioError(op, path, "EBADF", "the append handle was closed"));
        return {
          append: (bytes) => {
            if (!open) return closed("append");
            const data = copy(bytes);
            return run("append", path, () => this.#write(path, data, "append"));
          },
          sync: () => (open ? run("sync", path, () => this.#sync(path)) : closed("sync")),
          close: async () => {
            open = false;
          },
        };
      },
      truncate: (path, size) => run("truncate", path, () => this.#truncate(path, size)),
      sync: (path) => run("sync", path, () => this.#sync(path)),
      syncDir: (dir) => run("syncDir", dir, () => this.#syncDir(dir)),
      rename: (from, to) => run("rename", from, () => this.#rename(from, to)),
      remove: (path) => run("remove", path, () => this.#remove(path)),
    };
  }

  /**
   * Makes operations fail: while `predicate(op, path)` returns true for an operation completing,
   * it rejects with `Io` (errno `EIO`) and has no effect. `undefined` stops injecting.
   */
  failWhen(predicate: ((op: SimDiskOp, path: string) => boolean) | undefined): void {
    this.#fault = predicate;
  }

  /** A power cut: see the module documentation. The disk stays usable through new {@link mount}s. */
  crash(): void {
    for (const mount of this.#mounts) mount.alive = false;
    this.#mounts = [];
    this.#crashDir(this.#root, new Set());
  }

  /** The durable content of every file (what a crash now would keep at least), by `/`-rooted path. Copies. */
  files(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const walk = (dir: SimDir, prefix: string): void => {
      for (const [name, node] of [...dir.durable].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (node.kind === "dir") walk(node, `${prefix}/${name}`);
        else out.set(`${prefix}/${name}`, node.durable.slice());
      }
    };
    walk(this.#root, "");
    return out;
  }

  /**
   * Bit rot: XORs the byte at `offset` of the durable file at `path` with `xorMask` (1-255), in
   * the durable bytes and, if it reaches that far, the current bytes (the medium itself changed).
   * @throws RangeError when the durable file does not exist, `offset` is outside it, or the mask is not 1-255.
   */
  damage(path: string, offset: number, xorMask: number): void {
    const file = this.#lookup(path, "durable", "read");
    if (file?.kind !== "file") throw new RangeError(`SimDisk.damage: no durable file at ${path}`);
    if (!Number.isInteger(offset) || offset < 0 || offset >= file.durable.length) {
      throw new RangeError(`SimDisk.damage: offset ${offset} is outside ${path} (${file.durable.length} bytes)`);
    }
    if (!Number.isInteger(xorMask) || xorMask < 1 || xorMask > 255) throw new RangeError(`SimDisk.damage: xorMask must be 1-255, got ${xorMask}`);
    const flip = (bytes: Uint8Array): Uint8Array => {
      const flipped = bytes.slice();
      flipped[offset]! ^= xorMask;
      return flipped;
    };
    const inSync = file.current === file.durable;
    file.durable = flip(file.durable);
    if (inSync) file.current = file.durable;
    else if (offset < file.current.length) file.current = flip(file.current);
  }

  #run<T>(mount: Mount, op: SimDiskOp, path: string, effect: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const complete = (): void => {
        if (!mount.alive) return;
        if (this.#fault?.(op, path)) {
          reject(ioError(op, path, "EIO", "injected fault"));
          return;
        }
        try {
          resolve(effect());
        } catch (e) {
          reject(e);
        }
      };
      if (!mount.alive) return;
      if (this.#clock === undefined) {
        void Promise.resolve().then(complete);
      } else {
        const { min, max } = this.#latency;
        this.#clock.setTimer(min + this.#rng.next() * (max - min), complete);
      }
    });
  }

  #mkdirp(path: string): void {
    let dir = this.#root;
    for (const name of segments(path, "mkdirp")) {
      const node = dir.current.get(name);
      if (node === undefined) {
        const child = newDir();
        dir.current.set(name, child);
        dir.changes.push({ kind: "link", name, node: child });
        dir = child;
      } else if (node.kind === "dir") {
        dir = node;
      } else {
        throw ioError("mkdirp", path, "ENOTDIR", "a path component is a file");
      }
    }
  }

  #list(path: string): string[] {
    const node = this.#lookup(path, "current", "list");
    if (node === undefined) return [];
    if (node.kind !== "dir") throw ioError("list", path, "ENOTDIR", "not a directory");
    return [...node.current.keys()].sort();
  }

  #read(path: string): Uint8Array | undefined {
    const node = this.#lookup(path, "current", "read");
    if (node === undefined) return undefined;
    if (node.kind !== "file") throw ioError("read", path, "EISDIR", "is a directory");
    return node.current.slice();
  }

  /** `bytes` is owned by the disk from here on. */
  #write(path: string, bytes: Uint8Array, op: "write" | "append"): void {
    const { dir, name } = this.#parent(path, op);
    const node = dir.current.get(name);
    if (node === undefined) {
      const file: SimFile = { kind: "file", durable: EMPTY, current: bytes, appendOnly: true };
      dir.current.set(name, file);
      dir.changes.push({ kind: "link", name, node: file });
    } else if (node.kind === "dir") {
      throw ioError(op, path, "EISDIR", "is a directory");
    } else if (op === "append") {
      node.current = concat(node.current, bytes);
    } else {
      node.current = bytes;
      node.appendOnly = false;
    }
  }

  #truncate(path: string, size: number): void {
    const file = this.#file(path, "truncate");
    if (!Number.isInteger(size) || size < 0) throw ioError("truncate", path, "EINVAL", `bad size ${size}`);
    if (size === file.current.length) return;
    file.current = size < file.current.length ? file.current.slice(0, size) : concat(file.current, new Uint8Array(size - file.current.length));
    file.appendOnly = false;
  }

  #sync(path: string): void {
    const file = this.#file(path, "sync");
    file.durable = file.current;
    file.appendOnly = true;
    this.#syncCount++;
  }

  #syncDir(path: string): void {
    const node = this.#lookup(path, "current", "syncDir");
    if (node === undefined) throw ioError("syncDir", path, "ENOENT", "no such directory");
    if (node.kind !== "dir") throw ioError("syncDir", path, "ENOTDIR", "not a directory");
    node.durable = new Map(node.current);
    node.changes = [];
    this.#dirSyncCount++;
  }

  #rename(from: string, to: string): void {
    const source = this.#parent(from, "rename");
    const target = this.#parent(to, "rename");
    if (source.dir !== target.dir) throw ioError("rename", from, "EXDEV", `SimDisk renames within one directory only, not to ${to}`);
    const dir = source.dir;
    const node = dir.current.get(source.name);
    if (node === undefined) throw ioError("rename", from, "ENOENT", "no such file");
    if (node.kind === "dir" || dir.current.get(target.name)?.kind === "dir") throw ioError("rename", from, "EISDIR", "SimDisk renames files only");
    if (source.name === target.name) return;
    dir.current.delete(source.name);
    dir.current.set(target.name, node);
    dir.changes.push({ kind: "rename", from: source.name, to: target.name, node });
  }

  #remove(path: string): void {
    const parts = segments(path, "remove");
    const dir = this.#dirAt(parts.slice(0, -1), "current");
    const name = parts[parts.length - 1];
    if (dir === undefined || name === undefined) return;
    const node = dir.current.get(name);
    if (node === undefined) return;
    if (node.kind === "dir") throw ioError("remove", path, "EISDIR", "is a directory");
    dir.current.delete(name);
    dir.changes.push({ kind: "unlink", name });
  }

  #crashDir(dir: SimDir, settled: Set<SimFile>): void {
    const entries = new Map(dir.durable);
    for (const change of dir.changes) {
      if (!this.#rng.chance(0.5)) continue;
      if (change.kind === "link") entries.set(change.name, change.node);
      else if (change.kind === "unlink") entries.delete(change.name);
      else {
        entries.delete(change.from);
        entries.set(change.to, change.node);
      }
    }
    dir.durable = entries;
    dir.current = new Map(entries);
    dir.changes = [];
    for (const node of entries.values()) {
      if (node.kind === "dir") this.#crashDir(node, settled);
      else if (!settled.has(node)) {
        settled.add(node);
        this.#crashFile(node);
      }
    }
  }

  #crashFile(file: SimFile): void {
    const extra = file.current.length - file.durable.length;
    if (file.appendOnly && extra > 0) file.durable = file.current.slice(0, file.durable.length + this.#rng.int(0, extra));
    file.current = file.durable;
    file.appendOnly = true;
  }

  #file(path: string, op: SimDiskOp): SimFile {
    const node = this.#lookup(path, "current", op);
    if (node === undefined) throw ioError(op, path, "ENOENT", "no such file");
    if (node.kind !== "file") throw ioError(op, path, "EISDIR", "is a directory");
    return node;
  }

  #parent(path: string, op: SimDiskOp): { dir: SimDir; name: string } {
    const parts = segments(path, op);
    const name = parts[parts.length - 1];
    if (name === undefined) throw ioError(op, path, "EISDIR", "the root is a directory");
    const dir = this.#dirAt(parts.slice(0, -1), "current");
    if (dir === undefined) throw ioError(op, path, "ENOENT", "no such directory");
    return { dir, name };
  }

  #lookup(path: string, view: "current" | "durable", op: SimDiskOp): SimNode | undefined {
    const parts = segments(path, op);
    const name = parts[parts.length - 1];
    if (name === undefined) return this.#root;
    return this.#dirAt(parts.slice(0, -1), view)?.[view].get(name);
  }

  #dirAt(parts: readonly string[], view: "current" | "durable"): SimDir | undefined {
    let dir = this.#root;
    for (const name of parts) {
      const node = dir[view].get(name);
      if (node?.kind !== "dir") return undefined;
      dir = node;
    }
    return dir;
  }
}

function newDir(): SimDir {
  return { kind: "dir", durable: new Map(), current: new Map(), changes: [] };
}

function segments(path: string, op: SimDiskOp): string[] {
  const parts = path.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.includes("..")) throw ioError(op, path, "EINVAL", "SimDisk paths may not contain ..");
  return parts;
}

/** A fresh array (`Buffer#slice` would share memory). */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function ioError(op: SimDiskOp, path: string, errno: string, why: string): ConcordError {
  return new ConcordError("Io", `${op} ${path} failed: ${errno}: ${why} (simulated)`, { op, path, errno });
}
