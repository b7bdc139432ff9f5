/**
 * Crash recovery of the file storage over the simulated disk (issue property 4).
 *
 * A world is one SimDisk and a history of unique records. Commands append, flush, compact (the
 * snapshot is the JSON list of every record so far), let operations progress a little, or crash
 * the disk at that point: in-flight writes and fsyncs are cut, unsynced appends torn to a prefix,
 * unsynced directory changes kept or lost at random. After every crash the storage is reopened
 * (sometimes crashing again in the middle of recovery) and the recovered list is checked.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { asDocId } from "../../src/ids.js";
import { seededRng } from "../../src/rng.js";
import { SimDisk } from "../../src/sim/sim-disk.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { RECORD_HEADER_BYTES, scanRecords } from "../../src/storage/record.js";
import type { DocStorage, StoredLog } from "../../src/storage/storage.js";
import { checkProperty, propRuns } from "./prop.js";

const doc = asDocId("doc");
const ROOT = "/data";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The record list a stored log stands for: the snapshot's list, then the records after it. */
function listOf(log: StoredLog): string[] {
  const fromSnapshot = log.snapshot === undefined ? [] : (JSON.parse(dec.decode(log.snapshot)) as string[]);
  return [...fromSnapshot, ...log.records.map((r) => dec.decode(r))];
}

function isPrefix(list: readonly string[], of: readonly string[]): boolean {
  return list.length <= of.length && list.every((x, i) => of[i] === x);
}

type Command =
  | { kind: "append"; count: number }
  | { kind: "flush" }
  | { kind: "compact" }
  | { kind: "progress"; steps: number }
  | { kind: "crash"; interruptRecoveryAfter: number | null };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("append" as const), count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("flush" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("compact" as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("progress" as const), steps: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("crash" as const), interruptRecoveryAfter: fc.option(fc.integer({ min: 0, max: 60 })) }) },
);

/** One simulated machine running the file storage over a SimDisk, and what it was told. */
class World {
  readonly disk: SimDisk;
  readonly #clock: VirtualClock | undefined;
  /** The intended history: what was recovered, then what was appended since. */
  model: string[] = [];
  /** Length of `model` that acknowledged appends and compactions cover. */
  ackedLength = 0;
  storage!: DocStorage;
  #incarnation = 0;
  #counter = 0;
  readonly unexpected: unknown[] = [];

  constructor(seed: number, withLatency: boolean) {
    this.#clock = withLatency ? new VirtualClock() : undefined;
    this.disk = new SimDisk(
      this.#clock ? { rng: seededRng(seed), clock: this.#clock, latencyMs: { min: 0, max: 2 } } : { rng: seededRng(seed) },
    );
  }

  #persistence() {
    const clock = this.#clock;
    return fileStorage(ROOT, clock ? { fs: this.disk.mount(), clock, fsync: { maxDelayMs: 1 } } : { fs: this.disk.mount(), fsync: "always" });
  }

  /** Runs until `p` settles: simulated time when there is a clock, microtasks otherwise. */
  async settle<T>(p: Promise<T>): Promise<T> {
    if (this.#clock) {
      let done = false;
      p.then(
        () => (done = true),
        () => (done = true),
      );
      await this.#clock.runUntil(() => done, { maxMs: 600_000 });
      if (!done) throw new Error("an operation never completed");
    }
    return p;
  }

  /** Lets in-flight operations progress by `steps` microtasks or `steps` x 0.25 ms. */
  async progress(steps: number): Promise<void> {
    if (this.#clock) await this.#clock.advance(steps * 0.25);
    else for (let i = 0; i < steps; i++) await Promise.resolve();
  }

  async start(): Promise<void> {
    this.storage = await this.settle(this.#persistence().open(doc));
  }

  append(count: number): void {
    for (let i = 0; i < count; i++) {
      const record = `${this.#incarnation}:${this.#counter++}`;
      this.model.push(record);
      const covered = this.model.length;
      this.storage.append(enc.encode(record)).then(
        () => (this.ackedLength = Math.max(this.ackedLength, covered)),
        (e: unknown) => this.unexpected.push(e),
      );
    }
  }

  flush(): void {
    const covered = this.model.length;
    this.storage.flush().then(
      () => (this.ackedLength = Math.max(this.ackedLength, covered)),
      (e: unknown) => this.unexpected.push(e),
    );
  }

  compact(): void {
    const covered = this.model.length;
    this.storage.compact(enc.encode(JSON.stringify(this.model))).then(
      () => (this.ackedLength = Math.max(this.ackedLength, covered)),
      (e: unknown) => this.unexpected.push(e),
    );
  }

  /** Crashes, optionally crashes again `interruptRecoveryAfter` steps into recovery, then recovers and checks. */
  async crashAndRecover(interruptRecoveryAfter: number | null): Promise<void> {
    this.disk.crash();
    if (interruptRecoveryAfter !== null) {
      void this.#persistence()
        .open(doc)
        .catch((e: unknown) => this.unexpected.push(e));
      await this.progress(interruptRecoveryAfter);
      this.disk.crash();
    }
    await this.start();
    const recovered = listOf(await this.storage.load());
    expect(this.unexpected).toEqual([]);
    expect(isPrefix(recovered, this.model), `recovered ${JSON.stringify(recovered)} is not a prefix of ${JSON.stringify(this.model)}`).toBe(true);
    expect(recovered.length, `acknowledged ${this.ackedLength} records, recovered ${recovered.length}`).toBeGreaterThanOrEqual(this.ackedLength);
    this.model = recovered;
    this.ackedLength = recovered.length;
    this.#incarnation++;
  }

  /** Closes cleanly and reopens: everything must be there, exactly. */
  async closeAndReopen(): Promise<void> {
    await this.settle(this.storage.close());
    await this.start();
    expect(listOf(await this.storage.load())).toEqual(this.model);
    expect(this.unexpected).toEqual([]);
    await this.settle(this.storage.close());
  }

  async run(command: Command): Promise<void> {
    switch (command.kind) {
      case "append":
        return this.append(command.count);
      case "flush":
        return this.flush();
      case "compact":
        return this.compact();
      case "progress":
        return this.progress(command.steps);
      case "crash":
        return this.crashAndRecover(command.interruptRecoveryAfter);
    }
  }
}

describe("file storage crash recovery (SimDisk)", () => {
  it("property: after any crash, recovery returns a prefix of the appends that holds every acknowledged one", async () => {
    await checkProperty(
      fc.asyncProperty(
        fc.integer(),
        fc.boolean(),
        fc.array(commandArb, { minLength: 1, maxLength: 50, size: "max" }),
        fc.boolean(),
        async (seed, withLatency, commands, endCleanly) => {
          const world = new World(seed, withLatency);
          await world.start();
          for (const command of commands) await world.run(command);
          if (endCleanly) await world.closeAndReopen();
          else await world.crashAndRecover(null);
        },
      ),
      // Cheap (about 1.5 ms a case), so more cases than the default by default.
      { numRuns: propRuns(500) },
    );
  });

  it("property: damaged bytes are refused with Corrupt at or before the damage, never silently dropped or altered", async () => {
    const damageArb = fc.record({ file: fc.nat(), offset: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) });
    await checkProperty(
      fc.asyncProperty(
        fc.integer(),
        fc.array(commandArb.filter((c) => c.kind !== "crash"), { minLength: 1, maxLength: 30 }),
        fc.array(damageArb, { minLength: 1, maxLength: 3 }),
        async (seed, commands, damages) => {
          const world = new World(seed, false);
          await world.start();
          world.append(1);
          for (const command of commands) await world.run(command);
          await world.storage.close();

          const original = new Map([...world.disk.files()].filter(([path, bytes]) => path.startsWith(`${ROOT}/`) && bytes.length > 0));
          const paths = [...original.keys()];
          expect(paths.length, "a cleanly closed storage left no durable bytes").toBeGreaterThan(0);
          const firstDamage = new Map<string, number>();
          for (const d of damages) {
            const path = paths[d.file % paths.length]!;
            const offset = d.offset % original.get(path)!.length;
            world.disk.damage(path, offset, d.mask);
            firstDamage.set(path, Math.min(offset, firstDamage.get(path) ?? offset));
          }

          const outcome = await fileStorage(ROOT, { fs: world.disk.mount() })
            .open(doc)
            .then(
              async (s) => ({ list: listOf(await s.load()) }),
              (e: unknown) => ({ error: e }),
            );
          if ("error" in outcome) {
            const e = outcome.error;
            expect(isConcordError(e, "Corrupt"), `expected Corrupt, got ${String(e)}`).toBe(true);
            const { file, offset } = (e as { details: { file: string; offset: number } }).details;
            expect(firstDamage.has(file), `${file} was not damaged`).toBe(true);
            expect(offset).toBeLessThanOrEqual(firstDamage.get(file)!);
            return;
          }
          // Recovery may only succeed by cutting what looks like a torn tail (record.ts): the damage
          // turned the rest of the last log, from 12 bytes past a record boundary (a header that
          // may look torn), into zeros. Anything else is a miss.
          expect(isPrefix(outcome.list, world.model)).toBe(true);
          if (outcome.list.length === world.model.length) return;
          const lastLog = paths.filter((p) => p.endsWith(".log")).sort().pop()!;
          const damaged = world.disk.files().get(lastLog)!;
          const boundaries = [0];
          for (const r of scanRecords(original.get(lastLog)!, lastLog, { maxRecordBytes: 1 << 20 }).records) {
            boundaries.push(boundaries[boundaries.length - 1]! + RECORD_HEADER_BYTES + r.length);
          }
          const zeroTail = boundaries.some((b) => b < damaged.length && damaged.subarray(b + RECORD_HEADER_BYTES).every((x) => x === 0));
          expect(zeroTail, `recovery dropped ${world.model.length - outcome.list.length} damaged records instead of refusing`).toBe(true);
        },
      ),
    );
  });
});
