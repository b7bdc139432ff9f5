/**
 * Named examples of the replication codec of `primary` mode (src/primary/replication/codec.ts):
 * golden bytes for every message type, and the errors malformed input and out-of-domain values
 * get. The properties are in test/property/repl-codec.property.test.ts.
 */
import { describe, expect, it } from "vitest";
import { InvariantError } from "../../../src/errors.js";
import { asPeerId } from "../../../src/ids.js";
import { REPL_MESSAGE_TAGS, decodeReplMessage, encodeReplMessage } from "../../../src/primary/replication/codec.js";
import type { ReplMessage, ReplMessageType } from "../../../src/primary/replication/messages.js";
import { asEpoch, asLsn, type EpochHistory } from "../../../src/primary/replication/types.js";

type Variant<T extends ReplMessageType> = ReplMessage & { readonly type: T };

const e = asEpoch;
const l = asLsn;
const p = asPeerId;
const b = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
/** Bytes from hex; spaces and `|` only separate fields for the reader. */
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ""), "hex"));
const toHex = (u: Uint8Array): string => Buffer.from(u).toString("hex");
const protocol = (message: string | RegExp) => expect.objectContaining({ code: "Protocol", message: expect.stringMatching(message) });

/** p1 wrote epoch 1 from LSN 1; p2 took over in epoch 3 at LSN 200. Encoded: `02 | 01 02 7031 01 | 03 02 7032 c801`. */
const HISTORY: EpochHistory = [
  { epoch: e(1), primary: p("p1"), startLsn: l(1) },
  { epoch: e(3), primary: p("p2"), startLsn: l(200) },
];
const HISTORY_HEX = "02 | 01 027031 01 | 03 027032 c801";

/**
 * GOLDEN BYTES: derived once from the codec and checked in. Each line is `version | type | epoch |
 * body`. If one of these fails, the wire format changed: replicas of the previous release can no
 * longer talk to this one. Do not just update the hex: bump REPL_CODEC_VERSION in the same change.
 */
const GOLDEN: { readonly [T in ReplMessageType]: { readonly message: Variant<T>; readonly hex: string } } = {
  hello: {
    message: { type: "hello", epoch: e(3), history: HISTORY, last: { epoch: e(3), lsn: l(205) } },
    hex: `01 | 01 | 03 | ${HISTORY_HEX} | 03 cd01`,
  },
  ack: {
    message: { type: "ack", epoch: e(3), received: l(205), applied: l(204), gap: false },
    hex: "01 | 02 | 03 | cd01 cc01 00",
  },
  "snapshot-ack": {
    message: { type: "snapshot-ack", epoch: e(3), lsn: l(210), offset: 65_536 },
    hex: "01 | 08 | 03 | d201 808004",
  },
  welcome: {
    message: { type: "welcome", epoch: e(3), history: HISTORY, last: l(210) },
    hex: `01 | 03 | 03 | ${HISTORY_HEX} | d201`,
  },
  records: {
    message: {
      type: "records",
      epoch: e(3),
      prev: l(205),
      records: [
        { epoch: e(3), lsn: l(206), data: b(1, 2) },
        { epoch: e(3), lsn: l(207), data: b() },
      ],
      last: l(210),
    },
    hex: "01 | 04 | 03 | cd01 | 02 | 03 ce01 020102 | 03 cf01 00 | d201",
  },
  snapshot: {
    message: {
      type: "snapshot",
      epoch: e(3),
      history: HISTORY,
      lsn: l(210),
      common: l(150),
      offset: 65_536,
      data: b(0xde, 0xad),
      done: true,
      total: 65_538,
    },
    hex: `01 | 05 | 03 | ${HISTORY_HEX} | d201 9601 808004 02dead 01 828004`,
  },
  heartbeat: {
    message: { type: "heartbeat", epoch: e(3), last: l(210) },
    hex: "01 | 06 | 03 | d201",
  },
  epoch: {
    message: { type: "epoch", epoch: e(4), history: [{ epoch: e(4), primary: p("p3"), startLsn: l(1) }] },
    hex: "01 | 07 | 04 | 01 | 04 027033 01",
  },
};

describe("replication codec golden bytes (a failure here means the format changed: bump the version)", () => {
  it("has a golden message for every type the codec declares", () => {
    expect(Object.keys(GOLDEN).sort()).toEqual(Object.keys(REPL_MESSAGE_TAGS).sort());
  });

  for (const [type, { message, hex: golden }] of Object.entries(GOLDEN)) {
    it(`${type} encodes to its golden bytes and back`, () => {
      expect(toHex(encodeReplMessage(message))).toBe(toHex(hex(golden)));
      expect(decodeReplMessage(hex(golden))).toStrictEqual(message);
    });
  }
});

describe("replication codec refuses malformed input with Protocol, naming the field", () => {
  it("names an unknown version and an unknown type", () => {
    expect(() => decodeReplMessage(hex("02 06 03 d201"))).toThrow(
      protocol(/^malformed replication message: version is 2, but this code reads only version 1 .* \(at byte 0 of 5\)$/),
    );
    expect(() => decodeReplMessage(new Uint8Array())).toThrow(protocol(/version is missing: the input ends here/));
    expect(() => decodeReplMessage(hex("01 00 03"))).toThrow(protocol(/type has the unknown tag 0 \(known: 1 to 8\)/));
    expect(() => decodeReplMessage(hex("01 09 03"))).toThrow(protocol(/type has the unknown tag 9/));
  });

  it("refuses truncation and trailing bytes", () => {
    expect(() => decodeReplMessage(hex("01 06 03 d2"))).toThrow(protocol(/heartbeat\.last is cut off: the input ends inside the number \(at byte 3 of 4\)/));
    expect(() => decodeReplMessage(hex("01 06 03"))).toThrow(protocol(/heartbeat\.last is cut off/));
    expect(() => decodeReplMessage(hex("01 06 03 d201 00"))).toThrow(protocol(/its last field is followed by 1 trailing byte \(at byte 5 of 6\)/));
    expect(() => decodeReplMessage(hex("01 04 03 cd01 01 03 ce01 05aa d201"))).toThrow(protocol(/records\.records\[0\]\.data declares 5 bytes, but only 3 remain/));
    expect(() => decodeReplMessage(hex("01 04 03 cd01 7f 00"))).toThrow(protocol(/records\.records count is 127, but only 1 bytes remain/));
  });

  it("refuses non-canonical varints and booleans", () => {
    expect(() => decodeReplMessage(hex("01 06 8300 d201"))).toThrow(protocol(/heartbeat\.epoch is an overlong varint/));
    expect(() => decodeReplMessage(hex("01 06 03 ffffffffffffffff01"))).toThrow(protocol(/heartbeat\.last is a varint longer than 8 bytes/));
    expect(() => decodeReplMessage(hex("01 06 03 8080808080808010"))).toThrow(protocol(/heartbeat\.last is above 2\^53 - 1/));
    expect(() => decodeReplMessage(hex("01 02 03 01 01 02"))).toThrow(protocol(/ack\.gap is the byte 2, but a boolean is 0 or 1/));
    expect(decodeReplMessage(hex("01 06 03 ffffffffffffff0f"))).toMatchObject({ last: Number.MAX_SAFE_INTEGER });
  });

  it("refuses invalid peer ids in a history", () => {
    expect(() => decodeReplMessage(hex("01 07 04 01 04 00 01"))).toThrow(protocol(/epoch\.history\[0\]\.primary is empty, but a peer id is a non-empty string/));
    expect(() => decodeReplMessage(hex("01 07 04 01 04 02ff61 01"))).toThrow(protocol(/epoch\.history\[0\]\.primary is not valid UTF-8/));
    const long = `8002${"61".repeat(256)}`;
    expect(() => decodeReplMessage(hex(`01 07 04 01 04 ${long} 01`))).toThrow(
      protocol(/epoch\.history\[0\]\.primary is not a valid peer id: it is 256 UTF-16 code units long, more than 255/),
    );
  });

  it("checks shape only: an implausible history or chunk decodes (the cores judge it)", () => {
    // epochs going down, a chunk past its total: well-formed bytes.
    const odd = decodeReplMessage(hex("01 05 03 | 02 05 027031 09 01 027032 01 | 00 00 05 0100 00 02"));
    expect(odd).toMatchObject({ type: "snapshot", history: [{ epoch: 5 }, { epoch: 1 }], offset: 5, total: 2 });
  });

  it("refuses input over maxBytes with TooLarge before parsing, and takes input at the limit", () => {
    const bytes = hex(GOLDEN.snapshot.hex);
    expect(() => decodeReplMessage(bytes, { maxBytes: bytes.length - 1 })).toThrow(
      expect.objectContaining({ code: "TooLarge", message: `replication message of ${bytes.length} bytes exceeds the limit of ${bytes.length - 1} bytes` }),
    );
    expect(decodeReplMessage(bytes, { maxBytes: bytes.length })).toStrictEqual(GOLDEN.snapshot.message);
  });
});

describe("replication codec encoder", () => {
  it("refuses numbers outside the domain with an InvariantError (a caller bug)", () => {
    expect(() => encodeReplMessage({ ...GOLDEN.heartbeat.message, last: l(-1) })).toThrow(InvariantError);
    expect(() => encodeReplMessage({ ...GOLDEN.heartbeat.message, epoch: e(1.5) })).toThrow(
      /replication codec: heartbeat\.epoch must be a non-negative safe integer, got 1.5/,
    );
    expect(() => encodeReplMessage({ ...GOLDEN.snapshot.message, total: Number.NaN })).toThrow(/snapshot\.total/);
  });

  it("refuses an invalid peer id with InvalidArgument", () => {
    const history = [{ epoch: e(1), primary: p("x\uDC00"), startLsn: l(1) }];
    expect(() => encodeReplMessage({ type: "epoch", epoch: e(1), history })).toThrow(
      expect.objectContaining({ code: "InvalidArgument", message: expect.stringMatching(/epoch\.history\[0\]\.primary is not a valid peer id: it contains a lone surrogate/) }),
    );
  });

  it("decoded byte fields are copies that do not alias the input", () => {
    const bytes = hex(GOLDEN.records.hex);
    const m = decodeReplMessage(bytes);
    bytes.fill(0);
    expect(m).toStrictEqual(GOLDEN.records.message);
  });
});
