/**
 * The {@link FileSystem} port over `node:fs/promises`, with real fsync. Node only: `fileStorage`
 * imports this module lazily so browser bundles never pull in `node:fs`.
 */
import { appendFile, mkdir, open, readdir, readFile, rename, truncate, unlink, writeFile, type FileHandle } from "node:fs/promises";
import { fdatasyncSync, writeSync } from "node:fs";
import { ConcordError } from "../errors.js";
import type { AppendFile, FileSystem } from "./fs.js";

/** Error codes of platforms that can't open or fsync a directory; only there is a failing directory fsync ignored. */
const DIR_SYNC_UNSUPPORTED = new Set(["EISDIR", "EINVAL", "EPERM"]);

/**
 * The real file system. Every failure rejects with `ConcordError("Io", "<op> <path> failed: <os message>",
 * { op, path, errno })`, `errno` being the OS code such as `ENOSPC`, with the OS error as `cause`.
 *
 * Each call opens and closes its own file handle (no handle outlives a call, so a rename or
 * removal never leaves a stale handle behind), except `openAppend`'s, which its caller closes;
 * `sync` opens the file read-write and calls `FileHandle.sync()` (fsync), which flushes the
 * file's data whichever handle wrote it;
 * `syncDir` opens the directory read-only and fsyncs it (on Windows, which can't, it is a no-op).
 */
export interface NodeFileSystemOptions {
  /**
   * `openAppend` handles write and fdatasync on the calling thread (`writeSync`, `fdatasyncSync`)
   * instead of Node's thread pool: no thread hand-offs, so a commit acknowledges sooner and costs
   * less CPU, but the event loop stalls for each fsync (0.1 to 0.2 ms on an SSD, much longer on a
   * slow disk). For dedicated server processes (`concord node`), as Redis does with `appendfsync
   * always`; apps keep the default, false.
   */
  readonly blockingAppends?: boolean;
}

export function nodeFileSystem(options: NodeFileSystemOptions = {}): FileSystem {
  const forAppend = options.blockingAppends === true ? blockingAppendFile : threadPoolAppendFile;
  return {
    mkdirp: (dir) =>
      io("mkdirp", dir, async () => {
        await mkdir(dir, { recursive: true });
      }),
    list: (dir) =>
      io("list", dir, async () => {
        try {
          return await readdir(dir);
        } catch (e) {
          if (codeOf(e) === "ENOENT") return [];
          throw e;
        }
      }),
    read: (path) =>
      io("read", path, async () => {
        try {
          const buf = await readFile(path);
          return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        } catch (e) {
          if (codeOf(e) === "ENOENT") return undefined;
          throw e;
        }
      }),
    write: (path, bytes) => io("write", path, () => writeFile(path, bytes)),
    append: (path, bytes) => io("append", path, () => appendFile(path, bytes)),
    openAppend: (path) => io("openAppend", path, async () => forAppend(path, await open(path, "a"))),
    truncate: (path, size) => io("truncate", path, () => truncate(path, size)),
    sync: (path) =>
      io("sync", path, async () => {
        const handle = await open(path, "r+");
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      }),
    syncDir: (dir) =>
      io("syncDir", dir, async () => {
        try {
          const handle = await open(dir, "r");
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
        } catch (e) {
          if (process.platform === "win32" && DIR_SYNC_UNSUPPORTED.has(codeOf(e) ?? "")) return;
          throw e;
        }
      }),
    rename: (from, to) => io("rename", `${from} -> ${to}`, () => rename(from, to)),
    remove: (path) =>
      io("remove", path, async () => {
        try {
          await unlink(path);
        } catch (e) {
          if (codeOf(e) !== "ENOENT") throw e;
        }
      }),
  };
}

function blockingAppendFile(path: string, handle: FileHandle): AppendFile {
  return {
    append: (bytes) =>
      io("append", path, async () => {
        for (let done = 0; done < bytes.length; ) done += writeSync(handle.fd, bytes, done, bytes.length - done);
      }),
    sync: () => io("sync", path, async () => fdatasyncSync(handle.fd)),
    close: () => io("close", path, () => handle.close()),
  };
}

function threadPoolAppendFile(path: string, handle: FileHandle): AppendFile {
  return {
    append: (bytes) =>
      io("append", path, async () => {
        for (let done = 0; done < bytes.length; ) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
      }),
    sync: () => io("sync", path, () => handle.datasync()),
    close: () => io("close", path, () => handle.close()),
  };
}

async function io<T>(op: string, path: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new ConcordError("Io", `${op} ${path} failed: ${message}`, { op, path, errno: codeOf(e) }, { cause: e });
  }
}

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
