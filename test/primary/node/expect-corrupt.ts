/** Test helper: what a decoder or recovery must throw for stored bytes it can't trust. */
import { expect } from "vitest";
import { ConcordError } from "../../../src/errors.js";

/** Runs `run`, which must throw a `Corrupt` ConcordError whose message matches `message`; returns it. */
export function expectCorrupt(run: () => unknown, message: RegExp): ConcordError {
  let thrown: unknown;
  try {
    run();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ConcordError);
  const error = thrown as ConcordError;
  expect(error.code).toBe("Corrupt");
  expect(error.message).toMatch(message);
  return error;
}
