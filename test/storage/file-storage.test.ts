import { mkdtemp, readdir, readFile, rm, writeFile, appendFile } from "node:fs/promises";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { asDocId } from "../../src/ids.js";
import { seededRng } from "../../src/rng.js";
import { SimDisk } from "../../src/sim/sim-disk.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { docFolderName, logFileName } from "../../src/storage/file-layout.js";
import type { AppendFile, FileSystem } from "../../src/storage/fs.js";
import { nodeFileSystem } from "../../src/storage/node-fs.js";
import { encodeRecord, encodeRecords } from "../../src/storage/record.js";
import { CONTRACT_LIMITS, describeStorageContract } from "./contract.js";

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const doc = asDocId("doc");

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "concord-file-storage-"));
}

describeStorageContract("fileStorage on the real file system", async () => {
  const dir = await tempDir();
  return {
    persistence: fileStorage(dir, CONTRACT_LIMITS),
    reopen: async () => fileStorage(dir, CONTRACT_LIMITS),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describeStorageContract("fileStorage on the real file system, blocking appends", async () => {
  const dir = await tempDir();
  const options = { ...CONTRACT_LIMITS, blockingAppends: true, fsync: "always" as const };
  return {
    persistence: fileStorage(dir, options),
    reopen: async () => fileStorage(dir, options),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describeStorageContract("fileStorage on SimDisk", async () => {
  const disk = new SimDisk({ rng: seededRng(7) });
  return {
    persistence: fileStorage("/data", { fs: disk.mount(), fsync: "always", ...CONTRACT_LIMITS }),
    reopen: async () => fileStorage("/data", { fs: disk.mount(), fsync: "always", ...CONTRACT_LIMITS }),
  };
});

interface FsCall {
  /** A port call, or the close of an append handle. */
  readonly op: keyof FileSystem | "close";
  readonly path: string;
  readonly bytes?: number;
}

/** Wraps `inner`, recording every call (at its start) in `calls`; an append handle's calls are recorded as `append`/`sync`/`close` of its path. */
function tracedFs(inner: FileSystem, calls: FsCall[]): FileSystem {
  const traced = {} as Record<keyof FileSystem, unknown>;
  for (const op of Object.keys(inner) as (keyof FileSystem)[]) {
    traced[op] = (path: string, arg?: unknown) => {
      calls.push(arg instanceof Uint8Array ? { op, path, bytes: arg.length } : { op, path });
      return (inner[op] as (p: string, a?: unknown) => Promise<unknown>)(path, arg);
    };
  }
  traced.openAppend = async (path: string): Promise<AppendFile> => {
    calls.push({ op: "openAppend", path });
    const file = await inner.openAppend(path);
    return {
      append: (bytes) => (calls.push({ op: "append", path, bytes: bytes.length }), file.append(bytes)),
      sync: () => (calls.push({ op: "sync", path }), file.sync()),
      close: () => (calls.push({ op: "close", path }), file.close()),
    };
  };
  return traced as unknown as FileSystem;
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string; details?: Record<string, unknown> }> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e as { code?: string; message: string; details?: Record<string, unknown> },
  );
}

describe("fileStorage on the real file system", () => {
  let dir: string;
  let folder: string;
  beforeEach(async () => {
    dir = await tempDir();
    folder = join(dir, docFolderName(doc));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("lays out one folder per document with generation-numbered files", async () => {
    const s = await fileStorage(dir).open(doc);
    await s.append(bytes("a"));
    await s.compact(bytes("snap"));
    await s.append(bytes("b"));
    await s.close();
    expect(await readdir(folder)).toEqual([logFileName("log", 1), logFileName("snap", 1)]);
    expect(await readFile(join(folder, "snap-0000000001.snap"))).toEqual(Buffer.from(encodeRecord(bytes("snap"))));
    expect(await readFile(join(folder, "log-0000000001.log"))).toEqual(Buffer.from(encodeRecord(bytes("b"))));
  });

  it("cuts a torn tail off the last log at recovery, and appends continue after it", async () => {
    const s = await fileStorage(dir).open(doc);
    await s.append(bytes("one"));
    await s.append(bytes("two"));
    await s.close();
    const log = join(folder, logFileName("log", 0));
    const intact = (await readFile(log)).length;
    const torn = encodeRecord(bytes("three, torn"));
    await appendFile(log, torn.subarray(0, torn.length - 3));

    const again = await fileStorage(dir).open(doc);
    expect(await again.load()).toEqual({ snapshot: undefined, records: [bytes("one"), bytes("two")] });
    expect((await readFile(log)).length).toBe(intact);
    await again.append(bytes("four"));
    await again.close();
    const third = await fileStorage(dir).open(doc);
    expect((await third.load()).records).toEqual([bytes("one"), bytes("two"), bytes("four")]);
    await third.close();
  });

  it("cuts a zero-filled tail (preallocated space)", async () => {
    const s = await fileStorage(dir).open(doc);
    await s.append(bytes("one"));
    await s.close();
    await appendFile(join(folder, logFileName("log", 0)), new Uint8Array(4096));
    const again = await fileStorage(dir).open(doc);
    expect((await again.load()).records).toEqual([bytes("one")]);
    await again.close();
  });

  it("refuses a checksum failure in the middle with Corrupt naming the file and the offset", async () => {
    const s = await fileStorage(dir).open(doc);
    for (const r of ["first", "second", "third"]) await s.append(bytes(r));
    await s.close();
    const log = join(folder, logFileName("log", 0));
    const content = await readFile(log);
    const secondAt = encodeRecord(bytes("first")).length;
    content[secondAt + 13]! ^= 0x10;
    await writeFile(log, content);
    const e = await rejection(fileStorage(dir).open(doc));
    expect(e.code).toBe("Corrupt");
    expect(e.details).toEqual({ file: log, offset: secondAt });
    expect(e.message).toContain(log);
    expect(e.message).toContain(`byte ${secondAt}`);
    // Refusing must not have changed anything: the damaged file is left for inspection.
    expect(await readFile(log)).toEqual(content);
  });

  it("refuses a torn tail in a log that is not the last one", async () => {
    await fileStorage(dir).open(doc).then((s) => s.close());
    const torn = encodeRecords([bytes("a"), bytes("b")]);
    await writeFile(join(folder, logFileName("log", 0)), torn.subarray(0, torn.length - 1));
    await writeFile(join(folder, logFileName("log", 1)), encodeRecord(bytes("c")));
    const e = await rejection(fileStorage(dir).open(doc));
    expect(e.code).toBe("Corrupt");
    expect(e.details).toEqual({ file: join(folder, logFileName("log", 0)), offset: encodeRecord(bytes("a")).length });
  });

  it("refuses a damaged snapshot with Corrupt naming it", async () => {
    const s = await fileStorage(dir).open(doc);
    await s.compact(bytes("snapshot"));
    await s.close();
    const snap = join(folder, logFileName("snap", 1));
    const content = await readFile(snap);
    await writeFile(snap, content.subarray(0, content.length - 1));
    const e = await rejection(fileStorage(dir).open(doc));
    expect(e.code).toBe("Corrupt");
    expect(e.details?.["file"]).toBe(snap);
  });

  it("clears the leftovers of an interrupted compaction", async () => {
    const s = await fileStorage(dir).open(doc);
    await s.append(bytes("a"));
    await s.compact(bytes("snap:a"));
    await s.append(bytes("b"));
    await s.close();
    // As if a compaction to generation 2 crashed before its rename, and an older one before cleanup.
    await writeFile(join(folder, logFileName("tmp", 2)), encodeRecord(bytes("half")));
    await writeFile(join(folder, logFileName("log", 0)), encodeRecord(bytes("a")));
    await writeFile(join(folder, "notes.txt"), "not ours");
    const again = await fileStorage(dir).open(doc);
    expect(await again.load()).toEqual({ snapshot: bytes("snap:a"), records: [bytes("b")] });
    expect((await readdir(folder)).sort()).toEqual([logFileName("log", 1), "notes.txt", logFileName("snap", 1)]);
    await again.close();
  });

  it("groups many appends into one write and one fsync", async () => {
    const calls: FsCall[] = [];
    const s = await fileStorage(dir, { fs: tracedFs(nodeFileSystem(), calls), fsync: "always" }).open(doc);
    calls.length = 0;
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.append(bytes(`r${i}`))));
    // The first append opens the active log; it stays open for the next ones.
    expect(calls.map((c) => c.op)).toEqual(["openAppend", "append", "sync"]);
    calls.length = 0;
    await Promise.all(Array.from({ length: 10 }, (_, i) => s.append(bytes(`s${i}`))));
    expect(calls.map((c) => c.op)).toEqual(["append", "sync"]);
    await s.close();
  });

  it("holds one file descriptor for the active log while open, and none once closed", async () => {
    const fds = (): number => readdirSync("/proc/self/fd").length;
    const before = fds();
    const s = await fileStorage(dir, { fsync: "always" }).open(doc);
    await s.append(bytes("a"));
    expect(fds()).toBe(before + 1);
    await s.compact(bytes("snap:a"));
    await s.append(bytes("b"));
    expect(fds()).toBe(before + 1);
    await s.close();
    expect(fds()).toBe(before);
  });

  it("rejects a document whose escaped name is too long for a folder", async () => {
    const e = await rejection(fileStorage(dir).open(asDocId("日".repeat(100))));
    expect(e.code).toBe("InvalidArgument");
  });

  it("rejects nonsensical options with InvalidArgument", () => {
    expect(() => fileStorage(dir, { fsync: { maxDelayMs: -1 } })).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    expect(() => fileStorage(dir, { maxRecordBytes: 2 ** 32 })).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    expect(() => fileStorage("")).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    expect(() => fileStorage(dir, { blockingAppends: "yes" as unknown as boolean })).toThrow(
      expect.objectContaining({ code: "InvalidArgument", message: expect.stringMatching(/blockingAppends must be true or false/) }),
    );
  });
});

describe("nodeFileSystem", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("answers missing things without errors where the port says so", async () => {
    const fs = nodeFileSystem();
    expect(await fs.list(join(dir, "none"))).toEqual([]);
    expect(await fs.read(join(dir, "none"))).toBeUndefined();
    await fs.remove(join(dir, "none"));
    await fs.mkdirp(join(dir, "a/b"));
    await fs.append(join(dir, "a/b/f"), bytes("x"));
    await fs.append(join(dir, "a/b/f"), bytes("y"));
    await fs.sync(join(dir, "a/b/f"));
    await fs.syncDir(join(dir, "a/b"));
    const read = await fs.read(join(dir, "a/b/f"));
    expect(Buffer.isBuffer(read)).toBe(false);
    expect(read).toEqual(bytes("xy"));
  });

  it("turns OS errors into Io with op, path, errno and the OS error as cause", async () => {
    const fs = nodeFileSystem();
    const path = join(dir, "missing", "f");
    const e = (await rejection(fs.sync(path))) as unknown as { code: string; message: string; details: unknown; cause: unknown };
    expect(e.code).toBe("Io");
    expect(e.message).toContain(`sync ${path} failed: ENOENT`);
    expect(e.details).toEqual({ op: "sync", path, errno: "ENOENT" });
    expect((e.cause as { code?: string }).code).toBe("ENOENT");
    expect(await rejection(fs.read(dir))).toMatchObject({ code: "Io", details: { op: "read", errno: "EISDIR" } });
  });
});

describe("fileStorage on SimDisk", () => {
  const open = async (disk: SimDisk, options: Parameters<typeof fileStorage>[1] = {}) => fileStorage("/data", { fs: disk.mount(), ...options }).open(doc);

  it("with { maxDelayMs }, shares one fsync among every append made before the timer fires", async () => {
    const clock = new VirtualClock();
    const disk = new SimDisk({ rng: seededRng(1) });
    const opening = open(disk, { clock, fsync: { maxDelayMs: 5 } });
    const s = await opening;
    const syncsAtStart = disk.syncCount;
    const acked: number[] = [];
    const appends = Array.from({ length: 50 }, (_, i) => s.append(bytes(`r${i}`)).then(() => acked.push(i)));
    await clock.advance(4);
    expect(acked).toEqual([]);
    expect(disk.syncCount).toBe(syncsAtStart);
    await clock.advance(1);
    await Promise.all(appends);
    expect(acked).toHaveLength(50);
    expect(disk.syncCount).toBe(syncsAtStart + 1);
    const flushed = s.append(bytes("flushed"));
    await s.flush();
    await flushed;
    expect(disk.syncCount).toBe(syncsAtStart + 2);
  });

  it("fsyncs the old log completely before writing any byte of the new one during a compaction", async () => {
    const calls: FsCall[] = [];
    const disk = new SimDisk({ rng: seededRng(2) });
    const s = await fileStorage("/data", { fs: tracedFs(disk.mount(), calls), fsync: "always" }).open(doc);
    calls.length = 0;
    const before = [s.append(bytes("a")), s.append(bytes("b"))];
    const compaction = s.compact(bytes("snap:ab"));
    const after = [s.append(bytes("c"))];
    await Promise.all([...before, compaction, ...after]);
    const log0 = `/data/doc/${logFileName("log", 0)}`;
    const log1 = `/data/doc/${logFileName("log", 1)}`;
    const tmp = `/data/doc/${logFileName("tmp", 1)}`;
    const snap = `/data/doc/${logFileName("snap", 1)}`;
    expect(calls).toEqual([
      { op: "openAppend", path: log0 },
      { op: "append", path: log0, bytes: 2 * 13 },
      { op: "sync", path: log0 },
      { op: "write", path: tmp, bytes: 12 + 7 },
      { op: "sync", path: tmp },
      { op: "rename", path: tmp },
      { op: "syncDir", path: "/data/doc" },
      { op: "write", path: log1, bytes: 0 },
      { op: "close", path: log0 },
      { op: "remove", path: log0 },
      { op: "syncDir", path: "/data/doc" },
      { op: "openAppend", path: log1 },
      { op: "append", path: log1, bytes: 13 },
      { op: "sync", path: log1 },
    ]);
  });

  it("closes the active log's handle when closed after an I/O failure", async () => {
    const disk = new SimDisk({ rng: seededRng(4) });
    const calls: FsCall[] = [];
    const s = await fileStorage("/data", { fs: tracedFs(disk.mount(), calls), fsync: "always" }).open(doc);
    await s.append(bytes("durable"));
    disk.failWhen((op) => op === "sync");
    await expect(s.append(bytes("x"))).rejects.toMatchObject({ code: "Io" });
    await s.close();
    expect(calls.filter((c) => c.op === "close")).toStrictEqual([{ op: "close", path: calls.find((c) => c.op === "openAppend")!.path }]);
  });

  it("on an fs failure rejects in-flight and pending appends with Io, closes, and writes nothing more", async () => {
    const disk = new SimDisk({ rng: seededRng(3) });
    const calls: FsCall[] = [];
    const s = await fileStorage("/data", { fs: tracedFs(disk.mount(), calls), fsync: "always" }).open(doc);
    await s.append(bytes("durable"));
    let pendingDuringFailure: Promise<void> | undefined;
    disk.failWhen((op) => {
      if (op !== "sync") return false;
      pendingDuringFailure ??= s.append(bytes("queued behind the failing write"));
      return true;
    });
    const inFlight = [s.append(bytes("x")), s.append(bytes("y"))];
    const results = await Promise.allSettled(inFlight);
    expect(pendingDuringFailure).toBeDefined();
    results.push(...(await Promise.allSettled([pendingDuringFailure!])));
    disk.failWhen(undefined);
    const callsAfterFailure = calls.length;
    expect(results).toHaveLength(3);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      const reason = (r as PromiseRejectedResult).reason as { code: string; message: string };
      expect(reason.code).toBe("Io");
      expect(reason.message).toContain("EIO");
    }
    const closed = await rejection(s.append(bytes("z")));
    expect(closed.code).toBe("Closed");
    expect(closed.message).toContain("I/O failure");
    expect(closed.message).toContain("EIO");
    expect(await rejection(s.compact(bytes("s")))).toMatchObject({ code: "Closed" });
    expect(s.stats().pending).toBe(0);
    await s.close();
    // Nothing written after the failure: closing only releases the active log's handle.
    expect(calls.slice(callsAfterFailure).map((c) => c.op)).toStrictEqual(["close"]);
    // A rejected append may or may not have reached the disk, but never out of order.
    const recovered = (await (await open(disk)).load()).records.map((r) => new TextDecoder().decode(r));
    expect(["durable", "x", "y"].slice(0, recovered.length)).toEqual(recovered);
    expect(recovered[0]).toBe("durable");
  });

  it("recovers after a crash every append that was acknowledged", async () => {
    const disk = new SimDisk({ rng: seededRng(4) });
    const s = await open(disk, { fsync: "always" });
    const acked: string[] = [];
    const appends = Array.from({ length: 20 }, (_, i) => s.append(bytes(`r${i}`)).then(() => acked.push(`r${i}`)));
    await Promise.race(appends);
    disk.crash();
    const again = await open(disk);
    const recovered = (await again.load()).records.map((r) => new TextDecoder().decode(r));
    expect(acked.length).toBeGreaterThan(0);
    expect(recovered.slice(0, acked.length)).toEqual(acked);
  });
});
