import { describe, expect, it } from "vitest";
import { asDocId } from "../../src/ids.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import { CONTRACT_LIMITS, describeStorageContract } from "./contract.js";

describeStorageContract("memoryStorage", async () => {
  const persistence = memoryStorage(CONTRACT_LIMITS);
  return { persistence, reopen: async () => persistence };
});

describe("memoryStorage", () => {
  it("keeps documents per instance: another memoryStorage() starts empty", async () => {
    const first = memoryStorage();
    const s = await first.open(asDocId("d"));
    await s.append(new Uint8Array([1]));
    await s.close();
    const other = await memoryStorage().open(asDocId("d"));
    expect(await other.load()).toEqual({ snapshot: undefined, records: [] });
    expect((await (await first.open(asDocId("d"))).load()).records).toEqual([new Uint8Array([1])]);
  });

  it("rejects a record that is not a Uint8Array with InvalidArgument", async () => {
    const s = await memoryStorage().open(asDocId("d"));
    await expect(s.append("text" as unknown as Uint8Array)).rejects.toMatchObject({ code: "InvalidArgument" });
    expect(s.stats().records).toBe(0);
  });

  it("rejects limits that are not positive integers with InvalidArgument", () => {
    expect(() => memoryStorage({ compactAfterBytes: 0 })).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    expect(() => memoryStorage({ maxRecordBytes: 1.5 })).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
  });
});
