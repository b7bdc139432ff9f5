/**
 * The demo's data model in its one document: lists, their todos, and where each list's notes live.
 *
 *   list:<listId>           -> { title, created }
 *   todo:<listId>:<todoId>  -> { text, done, created }
 *   Y.Text "notes:<listId>"    (beside the keyspace map, in `store.ydoc`)
 *
 * Values arriving from peers are read defensively: a malformed one shows as a placeholder, never throws.
 */
import type { EventualStore, Json, WriteAck } from "concord-store";
import type * as Y from "yjs";

/** A todo list, as shown in the lists column. */
export interface TodoList {
  readonly id: string;
  readonly title: string;
  /** Creation time in ms since the epoch (0 for the default list). */
  readonly created: number;
}

/** One todo of a list. */
export interface Todo {
  readonly id: string;
  readonly listId: string;
  readonly text: string;
  readonly done: boolean;
}

/** The list every fresh document starts with: a fixed id, so two fresh browsers make the same one. */
export const DEFAULT_LIST_ID = "default";

const listKey = (listId: string): string => `list:${listId}`;
const todoKey = (listId: string, todoId: string): string => `todo:${listId}:${todoId}`;

/**
 * A new id: a base36 timestamp (fixed width, so ids sort by creation) and a random suffix.
 * Contains no ':' (ids are parts of keys).
 */
export function newId(now: number = Date.now()): string {
  const random = crypto.getRandomValues(new Uint32Array(1))[0]!;
  return now.toString(36).padStart(9, "0") + random.toString(36).padStart(7, "0");
}

/** Every list, sorted by creation time, then id. */
export function readLists(store: EventualStore): TodoList[] {
  return store
    .entriesLocal({ prefix: "list:" })
    .map(([key, value]) => {
      const fields = asRecord(value);
      const id = key.slice("list:".length);
      return {
        id,
        title: typeof fields["title"] === "string" ? fields["title"] : `(untitled ${id})`,
        created: typeof fields["created"] === "number" ? fields["created"] : 0,
      };
    })
    .sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The todos of `listId`, oldest first (todo ids sort by creation). */
export function readTodos(store: EventualStore, listId: string): Todo[] {
  const prefix = todoKey(listId, "");
  return store.entriesLocal({ prefix }).map(([key, value]) => {
    const fields = asRecord(value);
    return {
      id: key.slice(prefix.length),
      listId,
      text: typeof fields["text"] === "string" ? fields["text"] : "",
      done: fields["done"] === true,
    };
  });
}

/** Creates the default list when the document has none; `undefined` when there was no need. */
export function ensureDefaultList(store: EventualStore): Promise<WriteAck> | undefined {
  if (store.entriesLocal({ prefix: "list:" }).length > 0) return undefined;
  return store.set(listKey(DEFAULT_LIST_ID), { title: "My list", created: 0 });
}

/** Adds a list; it is readable (`readLists`) as soon as this returns, durable once `written` resolves. */
export function addList(store: EventualStore, title: string): { readonly id: string; readonly written: Promise<WriteAck> } {
  const now = Date.now();
  const id = newId(now);
  return { id, written: store.set(listKey(id), { title, created: now }) };
}

/** Adds a todo at the end of `listId`. */
export function addTodo(store: EventualStore, listId: string, text: string): Promise<WriteAck> {
  const now = Date.now();
  return store.set(todoKey(listId, newId(now)), { text, done: false, created: now });
}

/** Marks a todo done or not, keeping its other fields (including ones a newer version may add). */
export function setTodoDone(store: EventualStore, todo: Todo, done: boolean): Promise<WriteAck> {
  const key = todoKey(todo.listId, todo.id);
  return store.set(key, { ...asRecord(store.getLocal(key) ?? null), done });
}

/** Deletes a todo. */
export function deleteTodo(store: EventualStore, todo: Todo): Promise<WriteAck> {
  return store.delete(todoKey(todo.listId, todo.id));
}

/** The notes pad of `listId`: a Y.Text, persisted and synced like store writes. */
export function notesOf(store: EventualStore, listId: string): Y.Text {
  return store.ydoc.getText(`notes:${listId}`);
}

function asRecord(value: Json | undefined): { readonly [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as { readonly [key: string]: Json }) : {};
}
