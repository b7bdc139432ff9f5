/**
 * The files a sync server serves over plain HTTP beside its rooms: the demo app `concord serve`
 * ships, or an app's own built files (`ServerOptions.staticDir`). The folder is read once, at
 * start, into memory (a page's handful of files; a limit keeps it that way), so a request never
 * touches the disk and no path a client sends can reach outside the folder: only names found
 * when the folder was read are ever answered.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConcordError } from "../errors.js";

/** Most bytes a static folder may hold in all: 32 MiB. */
export const MAX_STATIC_BYTES = 32 * 1024 * 1024;

/** One file as served. */
export interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
}

/** A static folder in memory, by URL path (`/index.html`, `/assets/app.js`). */
export interface StaticFiles {
  /** The file `path` names (`/` and a folder's path name its `index.html`), or undefined. */
  get(path: string): StaticFile | undefined;
  readonly count: number;
  readonly bytes: number;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".webmanifest": "application/manifest+json",
};

/** The content type of a file name, by its extension (`application/octet-stream` if unknown). */
export function contentTypeOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return (dot >= 0 ? CONTENT_TYPES[name.slice(dot).toLowerCase()] : undefined) ?? "application/octet-stream";
}

/** `files` (URL path to file) as {@link StaticFiles}. Pure. */
export function staticFiles(files: ReadonlyMap<string, StaticFile>): StaticFiles {
  let bytes = 0;
  for (const file of files.values()) bytes += file.body.byteLength;
  return {
    count: files.size,
    bytes,
    get(path) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(path);
      } catch {
        return undefined;
      }
      if (!decoded.startsWith("/")) return undefined;
      return files.get(decoded) ?? files.get(`${decoded.endsWith("/") ? decoded : `${decoded}/`}index.html`);
    },
  };
}

/**
 * Reads every file under `dir` (recursively; dot files and symbolic links skipped).
 * @throws ConcordError `InvalidArgument` when `dir` is not a readable folder or holds more than
 *   `maxBytes` in all, naming the folder.
 */
export async function loadStaticFiles(dir: string, maxBytes = MAX_STATIC_BYTES): Promise<StaticFiles> {
  const files = new Map<string, StaticFile>();
  let total = 0;
  const walk = async (folder: string, urlPath: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        await walk(path, `${urlPath}${entry.name}/`);
      } else if (entry.isFile()) {
        const body = await readFile(path);
        total += body.byteLength;
        if (total > maxBytes) {
          throw new ConcordError("InvalidArgument", `static folder ${dir} holds more than ${maxBytes} bytes: serve large files from a web server or CDN instead`);
        }
        files.set(`${urlPath}${entry.name}`, { body, contentType: contentTypeOf(entry.name) });
      }
    }
  };
  try {
    await walk(dir, "/");
  } catch (error) {
    if (error instanceof ConcordError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new ConcordError("InvalidArgument", `static folder ${dir} can't be read: ${code} (${(error as Error).message})`, { dir, code }, { cause: error });
  }
  return staticFiles(files);
}
