/**
 * The properties every versioned binary codec built on src/codec/primitives.ts must have, as one
 * shared suite (STYLE.md section 3): any bytes either decode to a value that re-encodes to those
 * very bytes, or throw a Protocol/TooLarge ConcordError and nothing else; every strict prefix of a
 * valid encoding is Protocol; a version byte other than the codec's is Protocol, naming it.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import type { DecodeLimits } from "../../src/codec/primitives.js";
import { isConcordError } from "../../src/errors.js";
import { checkProperty, propRuns } from "./prop.js";

/** One top-level codec: its values and its two functions. */
export interface Codec<V> {
  readonly name: string;
  readonly arb: fc.Arbitrary<V>;
  readonly encode: (v: V) => Uint8Array;
  readonly decode: (bytes: Uint8Array, limits?: DecodeLimits) => V;
  /** The version byte the codec writes. */
  readonly version: number;
  /** Highest type tag after the version byte (noise behind a valid version and tag hits real parsers). */
  readonly maxTag: number;
}

/** Decodes, or returns "rejected"; fails the property on any error that is not Protocol/TooLarge. */
export function decodeOrRejected<V>(c: Codec<V>, bytes: Uint8Array, limits?: DecodeLimits): { value: V } | "rejected" {
  try {
    return { value: c.decode(bytes, limits) };
  } catch (e) {
    if (isConcordError(e, "Protocol") || isConcordError(e, "TooLarge")) return "rejected";
    throw new Error(`decode ${c.name} threw something other than Protocol/TooLarge: ${String(e)}`, { cause: e });
  }
}

const toHex = (u: Uint8Array): string => Buffer.from(u).toString("hex");

/** Decoded bytes must be canonical: the value re-encodes to exactly `bytes`. */
export function expectCanonical<V>(c: Codec<V>, bytes: Uint8Array, value: V): void {
  expect(toHex(c.encode(value))).toBe(toHex(bytes));
}

const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

/** Hostile input: noise (bare, or behind a valid version and tag), or a valid encoding cut, flipped or extended. */
function hostileArb<V>(c: Codec<V>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 48 }),
    fc
      .record({ tag: fc.nat({ max: c.maxTag + 1 }), rest: fc.uint8Array({ maxLength: 48 }) })
      .map(({ tag, rest }) => concat(Uint8Array.of(c.version, tag), rest)),
    fc.record({ v: c.arb, cut: fc.nat() }).map(({ v, cut }) => {
      const bytes = c.encode(v);
      return bytes.slice(0, cut % (bytes.length + 1));
    }),
    fc.record({ v: c.arb, flips: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }).map(({ v, flips }) => {
      const bytes = c.encode(v).slice();
      for (const f of flips) bytes[Math.floor(f / 8) % bytes.length]! ^= 1 << f % 8;
      return bytes;
    }),
    fc.record({ v: c.arb, tail: fc.uint8Array({ minLength: 1, maxLength: 8 }) }).map(({ v, tail }) => concat(c.encode(v), tail)),
  );
}

/** Registers the shared codec properties of `c` as tests in the current `describe`. */
export function codecContract<V>(c: Codec<V>): void {
  it(`hostile bytes either decode to a value that re-encodes to the same bytes, or throw only Protocol/TooLarge (${c.name})`, async () => {
    await checkProperty(
      fc.property(hostileArb(c), fc.option(fc.nat({ max: 64 }), { nil: undefined }), (bytes, maxBytes) => {
        const limits = maxBytes === undefined ? undefined : { maxBytes };
        const result = decodeOrRejected(c, bytes, limits);
        if (maxBytes !== undefined && bytes.length > maxBytes) {
          expect(() => c.decode(bytes, limits)).toThrow(expect.objectContaining({ code: "TooLarge" }));
        }
        if (result !== "rejected") expectCanonical(c, bytes, result.value);
      }),
      { numRuns: propRuns(500) },
    );
  });

  it(`every strict prefix of an encoded ${c.name} is Protocol; every single-byte change is Protocol or decodes canonically`, async () => {
    await checkProperty(
      fc.property(c.arb, fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 8 }), (v, xors) => {
        const bytes = c.encode(v);
        for (let k = 0; k < bytes.length; k++) {
          expect(() => c.decode(bytes.slice(0, k))).toThrow(expect.objectContaining({ code: "Protocol" }));
        }
        for (let p = 0; p < bytes.length; p++) {
          for (const x of [xors[p % xors.length]!, 0x01, 0x80]) {
            const mutated = bytes.slice();
            mutated[p]! ^= x;
            const result = decodeOrRejected(c, mutated);
            if (result !== "rejected") expectCanonical(c, mutated, result.value);
          }
        }
      }),
    );
  });

  it(`an encoded ${c.name} with a version byte other than ${c.version} is Protocol, naming the version`, async () => {
    await checkProperty(
      fc.property(c.arb, (v) => {
        const bytes = c.encode(v);
        for (let version = 0; version < 256; version++) {
          if (version === c.version) continue;
          const other = bytes.slice();
          other[0] = version;
          expect(() => c.decode(other)).toThrow(expect.objectContaining({ code: "Protocol", message: expect.stringContaining(`version is ${version},`) }));
        }
      }),
    );
  });
}
