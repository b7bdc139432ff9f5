/**
 * An app's own authentication (`authenticate`) instead of the token file: JWTs signed and checked
 * with `jose` (HS256, claims naming the documents and the access), a session cookie read from the
 * upgrade request's headers, and hooks that throw, answer nonsense or never answer.
 */
import { SignJWT, jwtVerify } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, type ClientOptions } from "ws";
import { isConcordError } from "../../src/errors.js";
import { openStore } from "../../src/open-store.js";
import type { AuthDecision, AuthRequest } from "../../src/server/server.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import { connect, hasValue, onCleanup, rawSocket, runCleanups, start, synced } from "./fixtures.js";

afterEach(runCleanups);

const SECRET = new TextEncoder().encode("a-test-secret-of-at-least-32-bytes!!");

async function jwt(claims: { docs: string[]; access: "read-write" | "read-only" }, expiresIn = "1h"): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime(expiresIn).sign(SECRET);
}

/** The app's check: a valid JWT whose `docs` names the document, else a cookie session. */
async function authenticate({ doc, token, headers }: AuthRequest): Promise<AuthDecision> {
  if (token === undefined) {
    return headers["cookie"] === "session=ada" ? { kind: "allowed", access: "read-write" } : { kind: "unauthorized", reason: "log in first" };
  }
  try {
    const { payload } = await jwtVerify(token, SECRET);
    const docs = payload["docs"] as string[];
    if (!docs.includes(doc)) return { kind: "forbidden", reason: `your token does not open ${doc}` };
    return { kind: "allowed", access: payload["access"] as "read-write" | "read-only" };
  } catch (error) {
    return { kind: "unauthorized", reason: `bad token: ${(error as Error).message}` };
  }
}

const closeOf = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));

describe("authenticate: the app's own check", () => {
  it("lets in valid JWTs with their access, refuses others with 4401/4403 and the app's reason", async () => {
    const { server } = await start({ authenticate });
    const writer = connect(server, "todos", { params: { token: await jwt({ docs: ["todos"], access: "read-write" }) } });
    const reader = connect(server, "todos", { params: { token: await jwt({ docs: ["todos"], access: "read-only" }) } });
    await Promise.all([synced(writer), synced(reader)]);
    writer.map.set("k", "from writer");
    await hasValue(reader, "k", "from writer");
    reader.map.set("k", "from reader");
    const store = await openStore({
      mode: "eventual",
      doc: "todos",
      persistence: memoryStorage(),
      sync: { url: server.url, token: await jwt({ docs: ["todos"], access: "read-write" }), tokenIn: "message", WebSocket: WebSocket as never },
    });
    onCleanup(() => store.close());
    await store.whenSynced();
    // The read-only change was refused by the server: the others still hold the writer's value.
    expect(store.getLocal("k")).toBe("from writer");

    const other = await rawSocket(server, `/notes?token=${await jwt({ docs: ["todos"], access: "read-write" })}`);
    expect(await other.closed).toEqual({ code: 4403, reason: "your token does not open notes" });
    const expired = await rawSocket(server, `/todos?token=${await jwt({ docs: ["todos"], access: "read-write" }, "-1m")}`);
    expect(await expired.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/^bad token: .*exp/) });
    const garbage = await rawSocket(server, "/todos?token=not.a.jwt");
    expect((await garbage.closed).code).toBe(4401);
  });

  it("lets in a client without a token on the strength of its cookie, its first frame kept for the room", async () => {
    const { server } = await start({ authenticate });
    class WithCookie extends WebSocket {
      constructor(url: string, options?: ClientOptions) {
        super(url, { ...options, headers: { cookie: "session=ada" } });
      }
    }
    const store = await openStore({ mode: "eventual", doc: "todos", persistence: memoryStorage(), sync: { url: server.url, WebSocket: WithCookie as never } });
    onCleanup(() => store.close());
    await store.set("by cookie", true, { ack: "server" });
    const stock = connect(server, "todos", { params: { token: await jwt({ docs: ["todos"], access: "read-only" }) } });
    await hasValue(stock, "by cookie", true);
    const anonymous = await rawSocket(server, "/todos");
    anonymous.ws.send(Uint8Array.of(0, 0, 1, 0));
    expect(await anonymous.closed).toEqual({ code: 4401, reason: "log in first" });
  });

  it("a hook that throws, answers nonsense or never answers refuses the connection (4401) and is logged; the server carries on", async () => {
    const { server, logged } = await start({
      authTimeoutMs: 300,
      authenticate: ({ doc }) => {
        if (doc === "throws") throw new Error("session store down");
        if (doc === "hangs") return new Promise<AuthDecision>(() => undefined);
        if (doc === "nonsense") return { kind: "allowed", access: "everything" } as never;
        return { kind: "allowed", access: "read-write" };
      },
    });
    for (const [doc, reason] of [
      ["throws", "unauthorized: the server could not check this connection"],
      ["nonsense", "unauthorized: the server could not check this connection"],
      ["hangs", "unauthorized: the check of this connection took longer than 300 ms"],
    ] as const) {
      const ws = new WebSocket(`${server.url}/${doc}?token=t`);
      ws.on("error", () => undefined);
      onCleanup(() => ws.terminate());
      expect(await closeOf(ws)).toEqual({ code: 4401, reason });
    }
    expect(await logged((e) => e.event === "auth.hook_failed" && e.doc === "throws")).toMatchObject({ level: "error" });
    const fine = connect(server, "fine", { params: { token: "t" } });
    await synced(fine);
  });

  it("refuses auth and authenticate together, and a reloadAuth without a file says why", async () => {
    let caught: unknown;
    try {
      await start({ authenticate, auth: { tokens: {} } });
    } catch (e) {
      caught = e;
    }
    expect(isConcordError(caught, "InvalidArgument") && /not both/.test((caught as Error).message)).toBe(true);
    const { server } = await start({ authenticate });
    expect(() => server.reloadAuth()).toThrow(/authenticate hook/);
  });
});
