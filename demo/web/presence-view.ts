/**
 * Who is here: every replica's presence ({ name, color, list }), ours marked "you", with the
 * list each one is looking at.
 */
import type { Json } from "concord-store";
import type { TodoList } from "./todo-lists.js";

/** One replica's presence, as this app announces it. */
export interface Visitor {
  readonly clientId: number;
  readonly name: string;
  readonly color: string;
  /** The id of the list they are looking at, if any. */
  readonly list: string | undefined;
  readonly self: boolean;
}

/** A color for `name`, the same in every browser: a hue from a hash of the name. */
export function colorOf(name: string): string {
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (Math.imul(hash, 31) + name.charCodeAt(i)) | 0;
  return `hsl(${(hash >>> 0) % 360}, 65%, 45%)`;
}

/** The visitors in `presence` (ours first, then by name); states that aren't ours in shape are skipped. */
export function readVisitors(presence: ReadonlyMap<number, Json>, selfClientId: number): Visitor[] {
  const visitors: Visitor[] = [];
  for (const [clientId, state] of presence) {
    if (typeof state !== "object" || state === null || Array.isArray(state)) continue;
    const { name, color, list } = state as { readonly [key: string]: Json };
    if (typeof name !== "string") continue;
    visitors.push({
      clientId,
      name,
      color: typeof color === "string" ? color : colorOf(name),
      list: typeof list === "string" ? list : undefined,
      self: clientId === selfClientId,
    });
  }
  return visitors.sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name) || a.clientId - b.clientId);
}

/** Renders `visitors` into `ul`: one `li[data-name]` each, `data-self="true"` on ours. */
export function renderPresence(ul: HTMLUListElement, visitors: readonly Visitor[], lists: readonly TodoList[]): void {
  ul.replaceChildren(
    ...visitors.map((visitor) => {
      const li = document.createElement("li");
      li.dataset["name"] = visitor.name;
      if (visitor.self) li.dataset["self"] = "true";
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.backgroundColor = visitor.color;
      const name = document.createElement("span");
      name.textContent = visitor.self ? `${visitor.name} (you)` : visitor.name;
      const where = document.createElement("span");
      where.className = "muted";
      const title = lists.find((list) => list.id === visitor.list)?.title;
      where.textContent = title === undefined ? "" : ` on ${title}`;
      li.append(swatch, name, where);
      return li;
    }),
  );
}
