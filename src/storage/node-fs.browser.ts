/**
 * What browser bundles get in place of `node-fs.ts` (package.json's `browser` field maps one onto
 * the other): no `node:fs`, and `fileStorage` without an `fs` option refuses with a message that
 * says what to use instead.
 */
import { ConcordError } from "../errors.js";
import type { FileSystem } from "./fs.js";
import type { NodeFileSystemOptions } from "./node-fs.js";

/** Always throws `InvalidArgument`: a browser has no file system for `fileStorage` to use. */
export function nodeFileSystem(_options: NodeFileSystemOptions = {}): FileSystem {
  throw new ConcordError(
    "InvalidArgument",
    "fileStorage() needs Node's file system, which a browser does not have: use indexedDbStorage() in browsers (or pass fileStorage a FileSystem of your own as options.fs)",
  );
}
