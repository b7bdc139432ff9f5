/**
 * Seeded randomness (STYLE.md section 2). Everything random in Concord (Yjs client ids, election
 * jitter, simulated faults, reconnect jitter) draws from an injected {@link Rng}, so a seed replays
 * a run exactly.
 */

export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, 2^32). */
  uint32(): number;
  /** Uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** An independent generator derived from this one (for a sub-component), deterministic. */
  fork(): Rng;
}

/**
 * A fast, well-mixed 32-bit generator (sfc32), seeded through splitmix32 so that nearby seeds give
 * unrelated streams. Deterministic across platforms.
 */
export function seededRng(seed: number): Rng {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const uint32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) uint32();
  const rng: Rng = {
    uint32,
    next: () => uint32() / 4294967296,
    int: (min, max) => min + Math.floor((uint32() / 4294967296) * (max - min + 1)),
    chance: (p) => uint32() / 4294967296 < p,
    pick: (items) => {
      if (items.length === 0) throw new RangeError("pick from an empty array");
      return items[Math.floor((uint32() / 4294967296) * items.length)] as (typeof items)[number];
    },
    fork: () => seededRng(uint32()),
  };
  return rng;
}
