import { describe, expect, it } from "vitest";
import { type Rng, seededRng } from "../../src/rng.js";

const draws = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.uint32());

/** Pearson correlation of two equally long samples. */
function correlation(xs: number[], ys: number[]): number {
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  xs.forEach((x, i) => {
    const y = ys[i]!;
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
  });
  return sxy / Math.sqrt(sxx * syy);
}

/** Fraction of equal bits between two streams of uint32 (0.5 for unrelated streams). */
function bitAgreement(xs: number[], ys: number[]): number {
  let same = 0;
  xs.forEach((x, i) => {
    let eq = ~(x ^ ys[i]!) >>> 0;
    while (eq !== 0) {
      same += eq & 1;
      eq >>>= 1;
    }
  });
  return same / (xs.length * 32);
}

describe("seededRng", () => {
  it("replays the same stream for the same seed, across every method", () => {
    const run = (rng: Rng) => [
      ...draws(rng, 50),
      rng.next(),
      rng.int(-5, 5),
      rng.chance(0.5),
      rng.pick(["x", "y", "z"]),
      rng.fork().uint32(),
    ];
    expect(run(seededRng(42))).toEqual(run(seededRng(42)));
    expect(run(seededRng(42))).not.toEqual(run(seededRng(43)));
  });

  it("treats seeds modulo 2^32", () => {
    expect(draws(seededRng(-1), 10)).toEqual(draws(seededRng(0xffffffff), 10));
  });

  it("keeps next() in [0, 1) and uint32() in [0, 2^32) as integers", () => {
    const rng = seededRng(7);
    const floats = Array.from({ length: 10_000 }, () => rng.next());
    const ints = draws(rng, 10_000);
    expect(floats.every((f) => f >= 0 && f < 1)).toBe(true);
    expect(ints.every((u) => Number.isInteger(u) && u >= 0 && u < 2 ** 32)).toBe(true);
  });

  it("int(min, max) is inclusive at both ends and roughly uniform (chi-square, 10 buckets)", () => {
    const rng = seededRng(1234);
    const n = 100_000;
    const counts = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const v = rng.int(-3, 6);
      if (Number.isInteger(v) && v >= -3 && v <= 6) counts[v + 3]!++;
      else outside++;
    }
    expect(outside).toBe(0);
    expect(counts.every((c) => c > 0)).toBe(true);
    const expected = n / 10;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.9); // p = 0.001 for 9 degrees of freedom
    expect(seededRng(5).int(9, 9)).toBe(9);
  });

  it("chance(p) comes up about p of the time, never for 0, always for 1", () => {
    const rng = seededRng(99);
    let hits = 0;
    for (let i = 0; i < 20_000; i++) if (rng.chance(0.3)) hits++;
    expect(hits / 20_000).toBeGreaterThan(0.28);
    expect(hits / 20_000).toBeLessThan(0.32);
    expect(Array.from({ length: 1000 }, () => rng.chance(0)).some(Boolean)).toBe(false);
    expect(Array.from({ length: 1000 }, () => rng.chance(1)).every(Boolean)).toBe(true);
  });

  it("pick returns every element of the array over time, and throws on an empty array", () => {
    const rng = seededRng(3);
    const items = ["a", "b", "c", "d"] as const;
    const seen = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const x = rng.pick(items);
      seen.set(x, (seen.get(x) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual([...items]);
    for (const count of seen.values()) expect(count).toBeGreaterThan(800);
    expect(() => rng.pick([])).toThrow(RangeError);
  });

  it("fork is deterministic and independent of the parent's later draws", () => {
    const parent = seededRng(11);
    const child = parent.fork();
    const childStream = draws(child, 1000);
    const parentStream = draws(parent, 1000);
    const again = seededRng(11).fork();
    expect(draws(again, 1000)).toEqual(childStream);
    expect(Math.abs(correlation(childStream, parentStream))).toBeLessThan(0.1);
    expect(bitAgreement(childStream, parentStream)).toBeCloseTo(0.5, 1);
    const sibling = parent.fork();
    expect(Math.abs(correlation(draws(sibling, 1000), childStream))).toBeLessThan(0.1);
  });

  it("gives uncorrelated streams for nearby seeds", () => {
    for (const seed of [0, 1, 1000, 0x7fffffff]) {
      const xs = draws(seededRng(seed), 2000);
      const ys = draws(seededRng(seed + 1), 2000);
      expect(xs[0]).not.toBe(ys[0]);
      expect(Math.abs(correlation(xs, ys))).toBeLessThan(0.1);
      expect(bitAgreement(xs, ys)).toBeGreaterThan(0.48);
      expect(bitAgreement(xs, ys)).toBeLessThan(0.52);
    }
  });
});
