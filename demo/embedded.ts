/**
 * The embedded eventual store, end to end: two replicas of a todo list (a laptop and a phone),
 * each persisted in its own folder under ./concord-data (or $CONCORD_DATA), syncing in-process.
 * Run it twice: the second run starts from what the first one left on disk.
 *
 *   npm run example
 */
import { asPeerId, fileStorage, MemoryNetwork, openStore } from "concord-store";

const data = process.env["CONCORD_DATA"] ?? "./concord-data";
const network = new MemoryNetwork(); // the WebSocket sync server comes with `concord serve`

const laptop = await openStore({
  mode: "eventual",
  doc: "todos",
  persistence: fileStorage(`${data}/laptop`),
  sync: { transport: network.join(asPeerId("laptop")) },
});
const phone = await openStore({
  mode: "eventual",
  doc: "todos",
  persistence: fileStorage(`${data}/phone`),
  sync: { transport: network.join(asPeerId("phone")) },
});

const seen = new Promise<void>((resolve) => {
  const off = laptop.subscribe({ prefix: "todo:" }, ({ changes, origin }) => {
    if (origin !== "remote") return;
    console.log(`laptop saw from the phone: ${changes.map((c) => `${c.key}=${JSON.stringify(c.value)}`).join(", ")}`);
    off();
    resolve();
  });
});

const run = ((await laptop.get("runs")) as number | undefined ?? 0) + 1;
const ack = await laptop.set("runs", run);
console.log(`run ${run}: the write is durable at level "${ack.level}"`);
phone.ydoc.getText("notes").insert(0, `run ${run}. `); // rich types live in the same Y.Doc
await phone.transact((tx) => {
  tx.set(`todo:${run}`, { title: `buy milk (run ${run})`, done: false });
  tx.set("todo:1", { title: "buy milk (run 1)", done: run > 1 });
});
await seen; // updates travel in order: the notes arrived before these todos

console.log("laptop has:", JSON.stringify(await laptop.entries({ prefix: "todo:" })));
console.log("notes:", JSON.stringify(laptop.ydoc.getText("notes").toString()));
console.log("status:", JSON.stringify({ ...laptop.status(), storage: undefined }));
await Promise.all([laptop.close(), phone.close()]);
