/**
 * What the server says when storage fails it: it refuses to start on a data folder it can't store
 * documents in, and `/healthz` lists documents that failed to open (`degraded` for a document whose
 * data is corrupt, the others still served; `failing`, 503, for a storage that refuses I/O).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConcordError, isConcordError } from "../../src/errors.js";
import { startServer } from "../../src/server/server.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { Persistence } from "../../src/storage/storage.js";
import { connect, hasValue, httpGet, onCleanup, rawSocket, runCleanups, start, synced, tempDir } from "./fixtures.js";

afterEach(runCleanups);

/** Memory storage, except that opening `corrupt` fails with Corrupt and `broken` with Io (while `failing.io`). */
function failingFor(failing: { io: boolean }): Persistence {
  const inner = memoryStorage();
  return {
    ...inner,
    name: "failing-for-test",
    open: async (doc) => {
      if (doc === "corrupt") throw new ConcordError("Corrupt", "doc corrupt: record 3 fails its checksum");
      if (doc === "broken" && failing.io) throw new ConcordError("Io", "open doc broken failed: EIO (i/o error)");
      return inner.open(doc);
    },
  };
}

describe("the server and failing storage", () => {
  it("refuses to start on a data folder it cannot create files in, naming it and the reason", async () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "not a folder");
    let caught: unknown;
    try {
      const server = await startServer({ port: 0, dataDir: join(file, "data"), onLog: () => undefined });
      onCleanup(() => server.close());
    } catch (e) {
      caught = e;
    }
    expect(isConcordError(caught, "Io")).toBe(true);
    expect((caught as Error).message).toMatch(/^data folder .*a-file\/data is not usable: ENOTDIR/);
  });

  it("/healthz lists documents that failed to open: degraded for corrupt data, failing (503) for I/O, ok again once they open", async () => {
    const failing = { io: true };
    const { server } = await start({ persistence: failingFor(failing) });
    const good = connect(server, "fine");
    const other = connect(server, "fine");
    await Promise.all([synced(good), synced(other)]);

    const corrupt = await rawSocket(server, "/corrupt");
    expect((await corrupt.closed).code).toBe(1011);
    const degraded = await httpGet(server, "/healthz");
    expect(degraded.status).toBe(200);
    expect(JSON.parse(degraded.body)).toEqual({
      status: "degraded",
      documents: 1,
      connections: 2,
      failedDocuments: [{ doc: "corrupt", code: "Corrupt", message: "doc corrupt: record 3 fails its checksum" }],
    });
    // The other documents are still served.
    good.map.set("k", 1);
    await hasValue(other, "k", 1);

    const broken = await rawSocket(server, "/broken");
    expect((await broken.closed).code).toBe(1011);
    const down = await httpGet(server, "/healthz");
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({
      status: "failing",
      failedDocuments: [
        { doc: "corrupt", code: "Corrupt" },
        { doc: "broken", code: "Io" },
      ],
    });

    // The storage works again: the next connection opens the document, and health says so.
    failing.io = false;
    await synced(connect(server, "broken"));
    const back = await httpGet(server, "/healthz");
    expect([back.status, JSON.parse(back.body).status, JSON.parse(back.body).failedDocuments]).toEqual([200, "degraded", [{ doc: "corrupt", code: "Corrupt", message: "doc corrupt: record 3 fails its checksum" }]]);
  });
});
