import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { seededRng } from "../../src/rng.js";
import { SimDisk } from "../../src/sim/sim-disk.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";

const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);

/** A disk with /d created and durable, and a live mount. */
async function diskWithDir(seed = 1): Promise<{ disk: SimDisk; fs: ReturnType<SimDisk["mount"]> }> {
  const disk = new SimDisk({ rng: seededRng(seed) });
  const fs = disk.mount();
  await fs.mkdirp("/d");
  await fs.syncDir("/");
  return { disk, fs };
}

/** A promise that records whether it settled. */
function track(p: Promise<unknown>): { settled: () => boolean } {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { settled: () => settled };
}

describe("SimDisk", () => {
  it("keeps synced bytes and directory entries across a crash", async () => {
    const { disk, fs } = await diskWithDir();
    await fs.write("/d/f", bytes(1, 2, 3));
    await fs.sync("/d/f");
    await fs.syncDir("/d");
    disk.crash();
    const after = disk.mount();
    expect(await after.read("/d/f")).toEqual(bytes(1, 2, 3));
    expect(await after.list("/d")).toEqual(["f"]);
    expect(disk.files()).toEqual(new Map([["/d/f", bytes(1, 2, 3)]]));
  });

  it("tears unsynced appends to a prefix, and every prefix length occurs across seeds", async () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const { disk, fs } = await diskWithDir(seed);
      await fs.write("/d/log", bytes(1, 2));
      await fs.sync("/d/log");
      await fs.syncDir("/d");
      await fs.append("/d/log", bytes(3, 4, 5));
      disk.crash();
      const content = (await disk.mount().read("/d/log"))!;
      expect([...content]).toEqual([1, 2, 3, 4, 5].slice(0, content.length));
      expect(content.length).toBeGreaterThanOrEqual(2);
      seen.add(content.length);
    }
    expect([...seen].sort()).toEqual([2, 3, 4, 5]);
  });

  it("reverts an unsynced truncate or rewrite to the durable bytes", async () => {
    for (let seed = 0; seed < 20; seed++) {
      const { disk, fs } = await diskWithDir(seed);
      await fs.write("/d/a", bytes(1, 2, 3));
      await fs.write("/d/b", bytes(1, 2, 3));
      for (const p of ["/d/a", "/d/b"]) await fs.sync(p);
      await fs.syncDir("/d");
      await fs.truncate("/d/a", 1);
      await fs.append("/d/a", bytes(9, 9, 9, 9));
      await fs.write("/d/b", bytes(1, 2, 3, 4, 5, 6));
      disk.crash();
      const after = disk.mount();
      expect(await after.read("/d/a")).toEqual(bytes(1, 2, 3));
      expect(await after.read("/d/b")).toEqual(bytes(1, 2, 3));
    }
  });

  it("needs syncDir for a new file to survive: fsyncing the file alone is not enough", async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const { disk, fs } = await diskWithDir(seed);
      await fs.write("/d/new", bytes(7));
      await fs.sync("/d/new");
      disk.crash();
      const content = await disk.mount().read("/d/new");
      outcomes.add(content === undefined ? "lost" : `kept ${[...content]}`);
    }
    expect(outcomes).toEqual(new Set(["lost", "kept 7"]));
  });

  it("loses a whole unsynced directory with its files", async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const disk = new SimDisk({ rng: seededRng(seed) });
      const fs = disk.mount();
      await fs.mkdirp("/d/e");
      await fs.write("/d/e/f", bytes(1));
      await fs.sync("/d/e/f");
      await fs.syncDir("/d/e");
      disk.crash();
      outcomes.add(JSON.stringify([...disk.files().keys()]));
    }
    expect(outcomes).toContain("[]");
    expect(outcomes).toContain('["/d/e/f"]');
  });

  it("makes a rename atomic: after a crash the target holds the old or the new file, never nothing", async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const { disk, fs } = await diskWithDir(seed);
      await fs.write("/d/snap", bytes(1));
      await fs.sync("/d/snap");
      await fs.syncDir("/d");
      await fs.write("/d/snap.tmp", bytes(2));
      await fs.sync("/d/snap.tmp");
      await fs.rename("/d/snap.tmp", "/d/snap");
      disk.crash();
      const after = disk.mount();
      const snap = await after.read("/d/snap");
      expect(snap === undefined ? "missing" : [...snap].join()).not.toBe("missing");
      outcomes.add([...snap!].join());
    }
    expect(outcomes).toEqual(new Set(["1", "2"]));
  });

  it("keeps every change once the directory is synced after the rename", async () => {
    const { disk, fs } = await diskWithDir();
    await fs.write("/d/x.tmp", bytes(2));
    await fs.sync("/d/x.tmp");
    await fs.rename("/d/x.tmp", "/d/x");
    await fs.remove("/d/gone");
    await fs.syncDir("/d");
    disk.crash();
    expect(disk.files()).toEqual(new Map([["/d/x", bytes(2)]]));
  });

  it("kills old mounts at a crash: their operations never settle and have no effect", async () => {
    const { disk, fs } = await diskWithDir();
    await fs.write("/d/f", bytes(1));
    await fs.sync("/d/f");
    await fs.syncDir("/d");
    const inFlight = track(fs.append("/d/f", bytes(2)));
    disk.crash();
    const afterCrash = track(fs.append("/d/f", bytes(3)));
    const fresh = disk.mount();
    for (let i = 0; i < 10; i++) await fresh.read("/d/f");
    expect(inFlight.settled()).toBe(false);
    expect(afterCrash.settled()).toBe(false);
    expect(await fresh.read("/d/f")).toEqual(bytes(1));
  });

  it("with a clock, completes operations after their latency, so a crash can land during an fsync", async () => {
    const clock = new VirtualClock();
    const disk = new SimDisk({ rng: seededRng(3), clock, latencyMs: { min: 5, max: 10 } });
    const fs = disk.mount();
    const setup = (async () => {
      await fs.mkdirp("/d");
      await fs.syncDir("/");
      await fs.write("/d/f", bytes(1));
      await fs.sync("/d/f");
      await fs.syncDir("/d");
    })();
    await clock.runUntil(() => disk.dirSyncCount === 2, { maxMs: 1000 });
    await setup;
    const append = fs.append("/d/f", bytes(2, 3, 4));
    expect(clock.pendingTimers()).toBe(1);
    await clock.advance(10);
    await append;
    const sync = track(fs.sync("/d/f"));
    await clock.advance(4);
    expect(sync.settled()).toBe(false);
    const syncsBefore = disk.syncCount;
    disk.crash();
    await clock.advance(100);
    expect(sync.settled()).toBe(false);
    expect(disk.syncCount).toBe(syncsBefore);
    const content = [...(disk.files().get("/d/f") ?? [])];
    expect(content).toEqual([1, 2, 3, 4].slice(0, content.length));
  });

  it("reports missing files and directories as Io with op, path and errno", async () => {
    const { fs } = await diskWithDir();
    expect(await fs.read("/d/none")).toBeUndefined();
    expect(await fs.list("/nowhere")).toEqual([]);
    await fs.remove("/d/none");
    for (const attempt of [fs.sync("/d/none"), fs.write("/nowhere/f", bytes(1)), fs.rename("/d/none", "/d/x"), fs.truncate("/d/none", 0)]) {
      const e = await attempt.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isConcordError(e, "Io")).toBe(true);
      expect((e as { details: { errno: string } }).details.errno).toBe("ENOENT");
    }
  });

  it("fails operations chosen by failWhen with Io and no effect", async () => {
    const { disk, fs } = await diskWithDir();
    disk.failWhen((op, path) => op === "append" && path === "/d/f");
    await fs.write("/d/f", bytes(1));
    await expect(fs.append("/d/f", bytes(2))).rejects.toMatchObject({ code: "Io", details: { errno: "EIO", op: "append" } });
    disk.failWhen(undefined);
    await fs.append("/d/f", bytes(3));
    expect(await fs.read("/d/f")).toEqual(bytes(1, 3));
  });

  it("damage flips durable bytes and counts fsyncs", async () => {
    const { disk, fs } = await diskWithDir();
    await fs.write("/d/f", bytes(0, 0, 0));
    await fs.sync("/d/f");
    await fs.syncDir("/d");
    expect(disk.syncCount).toBe(1);
    expect(disk.dirSyncCount).toBe(2);
    disk.damage("/d/f", 1, 0x81);
    expect(disk.files().get("/d/f")).toEqual(bytes(0, 0x81, 0));
    expect(await fs.read("/d/f")).toEqual(bytes(0, 0x81, 0));
    expect(() => disk.damage("/d/f", 3, 1)).toThrow(RangeError);
    expect(() => disk.damage("/d/none", 0, 1)).toThrow(RangeError);
  });

  it("replays the same crash outcome for the same seed", async () => {
    const outcome = async (seed: number): Promise<string> => {
      const { disk, fs } = await diskWithDir(seed);
      for (let i = 0; i < 5; i++) {
        await fs.append(`/d/f${i}`, new Uint8Array(50).fill(i));
        if (i % 2 === 0) await fs.sync(`/d/f${i}`);
      }
      disk.crash();
      return JSON.stringify([...disk.files()].map(([p, b]) => [p, b.length]));
    };
    expect(await outcome(42)).toBe(await outcome(42));
  });
});
