/**
 * Damaged frames of a versioned binary codec (`u8 version`, `u8 type`, then the body; see
 * src/codec/primitives.ts), for the bad-input properties of the node server: valid frames cut
 * short, with trailing bytes, another version or an unknown type tag (which no decoder may take),
 * bit-flipped (which may still decode, as another valid message), random bytes, and a megabyte or
 * two of garbage. Each says what it is, for fast-check's counterexample report.
 */
import fc from "fast-check";

/** A frame to send, and what was done to it. */
export interface Damaged {
  readonly what: string;
  readonly bytes: Uint8Array;
}

const hex = (b: Uint8Array): string => Buffer.from(b.subarray(0, 16)).toString("hex") + (b.length > 16 ? `...(${b.length} bytes)` : "");
const damaged = (what: string, bytes: Uint8Array): Damaged => ({ what: `${what}: ${hex(bytes)}`, bytes });

/** The message `decode` refuses `bytes` with, or null when it takes them. */
export function refusal(bytes: Uint8Array, decode: (bytes: Uint8Array) => unknown): string | null {
  try {
    decode(bytes);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

export interface DamageOptions {
  /** The codec's type tags run from 1 to `lastTag`: any other is unknown. */
  readonly lastTag: number;
  /** Also flip 1 to 4 bits of a valid frame (the result may decode). Default false. */
  readonly flips?: boolean;
  /** The decoder: random bytes it takes are not sent. */
  readonly decode: (bytes: Uint8Array) => unknown;
}

/** Damaged versions of the `valid` frames (each at least 2 bytes: version and type). */
export function damagedFrames(valid: readonly Uint8Array[], o: DamageOptions): fc.Arbitrary<Damaged> {
  const frame = fc.nat(valid.length - 1).map((i) => valid[i]!);
  const kinds: fc.Arbitrary<Damaged>[] = [
    fc.tuple(frame, fc.nat()).map(([b, cut]) => damaged("cut short", b.subarray(0, cut % b.length))),
    fc.tuple(frame, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([b, tail]) => damaged("trailing bytes", Uint8Array.from([...b, ...tail]))),
    fc
      .tuple(frame, fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1))
      .map(([b, v]) => damaged(`version ${v}`, Uint8Array.from([v, ...b.subarray(1)]))),
    fc
      .tuple(frame, fc.oneof(fc.constant(0), fc.integer({ min: o.lastTag + 1, max: 255 })))
      .map(([b, t]) => damaged(`type tag ${t}`, Uint8Array.from([b[0]!, t, ...b.subarray(2)]))),
    fc
      .uint8Array({ maxLength: 48 })
      .filter((b) => refusal(b, o.decode) !== null)
      .map((b) => damaged("random bytes", b)),
    fc.integer({ min: 1 << 20, max: 2 << 20 }).map((n) => damaged("a megabyte or two of garbage", new Uint8Array(n).fill(0xab))),
  ];
  if (o.flips === true) {
    kinds.push(
      fc.tuple(frame, fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 4 })).map(([b, flips]) => {
        const bytes = Uint8Array.from(b);
        for (const [at, bit] of flips) bytes[at % bytes.length]! ^= 1 << bit;
        return damaged(`bits flipped at ${flips.map(([at, bit]) => `${at % bytes.length}.${bit}`).join(",")}`, bytes);
      }),
    );
  }
  return fc.oneof(...kinds);
}
