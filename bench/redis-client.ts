/**
 * A small RESP2 client over `node:net`, for the Redis baseline of `bench/primary.ts` (the project
 * takes no Redis package): commands are pipelined (each written at once, the writes of one tick
 * sent together), replies are parsed incrementally and settle commands in the order they were
 * sent. A connection that subscribed hears `message`/`pmessage` pushes through `onMessage`.
 *
 * RESP2 only: simple strings, errors, integers, bulk strings (decoded as UTF-8) and arrays, nulls
 * of either kind. Not handled: RESP3, SUBSCRIBE/UNSUBSCRIBE naming more than one channel per
 * command (each of those replies once per channel), reconnects.
 */
import { connect as netConnect, type Socket } from "node:net";

/** A reply of `-ERR ...`: the command failed, the connection is fine. */
export class RedisReplyError extends Error {
  override readonly name = "RedisReplyError";
}

export type RespValue = string | number | null | RespValue[];

/** A push to a subscribed connection: `channel` (and the `pattern` it matched, for PSUBSCRIBE). */
export interface RedisMessage {
  readonly channel: string;
  readonly message: string;
  readonly pattern?: string;
}

interface Waiting {
  readonly resolve: (v: RespValue) => void;
  readonly reject: (e: Error) => void;
}

const CRLF = 0x0d;
/** Parsed without a reply: the buffer ends inside it. */
const INCOMPLETE = Symbol("incomplete");

export class RedisConnection {
  readonly #socket: Socket;
  readonly #waiting: Waiting[] = [];
  #buffer: Buffer = Buffer.alloc(0);
  #pos = 0;
  #corked = false;
  #failure: Error | null = null;
  #onMessage: ((m: RedisMessage) => void) | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("error", (e) => this.#fail(e));
    socket.on("close", () => this.#fail(new Error("connection closed")));
  }

  /** Connects to `host:port`. */
  static connect(port: number, host = "127.0.0.1"): Promise<RedisConnection> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host });
      const onError = (e: Error): void => reject(new Error(`redis ${host}:${port}: ${e.message}`));
      socket.once("error", onError);
      socket.once("connect", () => {
        socket.off("error", onError);
        resolve(new RedisConnection(socket));
      });
    });
  }

  /** Commands sent and not answered yet. */
  get pending(): number {
    return this.#waiting.length;
  }

  /**
   * Sends one command and resolves with its reply; rejects with {@link RedisReplyError} for an
   * error reply, or with the connection's failure.
   */
  command(...args: ReadonlyArray<string | number>): Promise<RespValue> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    let frame = `*${args.length}\r\n`;
    for (const arg of args) {
      const s = String(arg);
      frame += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
    }
    // Every command of this tick leaves in one write, as the usual clients do.
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#socket.write(frame);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Hears every `message` and `pmessage` push of this connection. */
  onMessage(listener: (m: RedisMessage) => void): void {
    this.#onMessage = listener;
  }

  /** Closes the socket; commands still waiting reject. */
  close(): void {
    this.#socket.destroy();
    this.#fail(new Error("connection closed by the client"));
  }

  #fail(e: Error): void {
    if (this.#failure !== null) return;
    this.#failure = e;
    for (const w of this.#waiting.splice(0)) w.reject(e);
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#pos >= this.#buffer.length ? chunk : Buffer.concat([this.#buffer.subarray(this.#pos), chunk]);
    this.#pos = 0;
    for (;;) {
      const start = this.#pos;
      let value: RespValue | RedisReplyError | typeof INCOMPLETE;
      try {
        value = this.#parse();
      } catch (e) {
        this.#socket.destroy();
        this.#fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (value === INCOMPLETE) {
        this.#pos = start;
        return;
      }
      this.#deliver(value);
    }
  }

  #deliver(value: RespValue | RedisReplyError): void {
    if (Array.isArray(value) && (value[0] === "message" || value[0] === "pmessage")) {
      const m: RedisMessage =
        value[0] === "message"
          ? { channel: String(value[1]), message: String(value[2]) }
          : { pattern: String(value[1]), channel: String(value[2]), message: String(value[3]) };
      this.#onMessage?.(m);
      return;
    }
    const w = this.#waiting.shift();
    if (w === undefined) {
      this.#socket.destroy();
      this.#fail(new Error(`a reply no command waits for: ${JSON.stringify(value)}`));
      return;
    }
    if (value instanceof RedisReplyError) w.reject(value);
    else w.resolve(value);
  }

  /** One value from `#pos`, advancing past it, or INCOMPLETE (`#pos` then anywhere). */
  #parse(): RespValue | RedisReplyError | typeof INCOMPLETE {
    const line = this.#line();
    if (line === INCOMPLETE) return INCOMPLETE;
    const body = line.slice(1);
    switch (line[0]) {
      case "+":
        return body;
      case "-":
        return new RedisReplyError(body);
      case ":":
        return Number(body);
      case "$": {
        const n = Number(body);
        if (n < 0) return null;
        if (this.#buffer.length < this.#pos + n + 2) return INCOMPLETE;
        const s = this.#buffer.toString("utf8", this.#pos, this.#pos + n);
        this.#pos += n + 2;
        return s;
      }
      case "*": {
        const n = Number(body);
        if (n < 0) return null;
        const items: RespValue[] = [];
        for (let i = 0; i < n; i++) {
          const item = this.#parse();
          if (item === INCOMPLETE) return INCOMPLETE;
          // An error inside an array (EXEC) stands as its message.
          items.push(item instanceof RedisReplyError ? item.message : item);
        }
        return items;
      }
      default:
        throw new Error(`not a RESP2 reply: ${JSON.stringify(line.slice(0, 40))}`);
    }
  }

  /** The line at `#pos` without its CRLF, advancing past it, or INCOMPLETE. */
  #line(): string | typeof INCOMPLETE {
    const end = this.#buffer.indexOf(CRLF, this.#pos);
    if (end < 0 || end + 1 >= this.#buffer.length) return INCOMPLETE;
    const line = this.#buffer.toString("utf8", this.#pos, end);
    this.#pos = end + 2;
    return line;
  }
}
