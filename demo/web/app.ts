/**
 * The Concord browser demo: shared todo lists, each with a notes pad, offline-first. One eventual
 * store per page (the `?doc=` document, default "demo"), persisted in IndexedDB and synced with
 * the `concord serve` that served the page. Entry point of the bundle `app.js`.
 *
 * Hooks for the browser tests: `body[data-ready="true"]` once the store is open and the page first
 * rendered, `window.concordDemo.store`, and the `data-testid` elements of index.html.
 */
import { indexedDbStorage, openEventualStore, type EventualStore } from "concord-store";
import { renderLists } from "./lists-view.js";
import { bindNotes } from "./notes-binding.js";
import { colorOf, readVisitors, renderPresence } from "./presence-view.js";
import { renderStatusBar, type StatusBarElements } from "./status-bar.js";
import { addList, addTodo, deleteTodo, ensureDefaultList, notesOf, readLists, readTodos, setTodoDone, type TodoList } from "./todo-lists.js";
import { renderTodos, type TodoActions } from "./todos-view.js";

declare global {
  interface Window {
    /** Set once the store is open: for the browser tests and the curious. */
    concordDemo?: { readonly store: EventualStore };
  }
}

const NAME_KEY = "concord-demo-name";
const STATUS_REFRESH_MS = 250;

const errorLine = byTestId("error", HTMLElement);

/** Shows `error` in the page's error line (and the console, with its stack). */
function showError(error: unknown): void {
  console.error(error);
  errorLine.textContent = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function byTestId<T extends HTMLElement>(testId: string, type: { new (): T; prototype: T }): T {
  const element = document.querySelector(`[data-testid="${testId}"]`);
  if (!(element instanceof type)) throw new Error(`index.html has no ${type.name} [data-testid=${testId}]`);
  return element;
}

/** Calls `onEnter` with the trimmed value on Enter (not while composing), then clears the input. */
function onEnter(input: HTMLInputElement, onValue: (value: string) => void): void {
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing) return;
    const value = input.value.trim();
    if (value === "") return;
    input.value = "";
    onValue(value);
  });
}

function loadName(): string {
  const saved = localStorage.getItem(NAME_KEY);
  if (saved) return saved;
  const name = `Guest-${1000 + (crypto.getRandomValues(new Uint16Array(1))[0]! % 9000)}`;
  localStorage.setItem(NAME_KEY, name);
  return name;
}

/** sessionStorage key of the offline switch ("1" while offline). */
const OFFLINE_KEY = "concord-demo-offline";

async function main(): Promise<void> {
  const page = {
    presence: byTestId("presence", HTMLUListElement),
    lists: byTestId("lists", HTMLUListElement),
    newList: byTestId("new-list", HTMLInputElement),
    listTitle: byTestId("list-title", HTMLElement),
    todos: byTestId("todos", HTMLUListElement),
    newTodo: byTestId("new-todo", HTMLInputElement),
    notes: byTestId("notes", HTMLTextAreaElement),
    name: byTestId("name", HTMLInputElement),
  };
  const statusBar: StatusBarElements = {
    connection: byTestId("connection", HTMLElement),
    pending: byTestId("pending", HTMLElement),
    pendingAge: byTestId("pending-age", HTMLElement),
    saved: byTestId("saved", HTMLElement),
    offlineToggle: byTestId("offline-toggle", HTMLInputElement),
  };

  const store = await openEventualStore({
    mode: "eventual",
    doc: new URLSearchParams(location.search).get("doc") || "demo",
    persistence: indexedDbStorage(),
    sync: {
      url: (location.protocol === "https:" ? "wss://" : "ws://") + location.host,
      // The offline switch holds across reloads of this tab: a reload while offline stays offline.
      connect: sessionStorage.getItem(OFFLINE_KEY) !== "1",
    },
    onError: showError,
  });
  window.concordDemo = { store };
  const report = (written: Promise<unknown> | undefined): void => void written?.catch(showError);
  report(ensureDefaultList(store));

  let name = loadName();
  page.name.value = name;
  /** The list on screen and its notes binding. */
  let shown: { readonly listId: string; readonly unbindNotes: () => void } | undefined;

  const announce = (): void => {
    try {
      store.setPresence({ name, color: colorOf(name), list: shown?.listId ?? null });
    } catch (e) {
      showError(e);
    }
  };
  const select = (listId: string): void => {
    location.hash = new URLSearchParams({ list: listId }).toString();
  };
  // The list in the hash, else the first: a list not synced here yet gets selected once it arrives.
  const selectedIn = (lists: readonly TodoList[]): TodoList | undefined => {
    const wanted = new URLSearchParams(location.hash.slice(1)).get("list");
    return lists.find((list) => list.id === wanted) ?? lists[0];
  };
  const todoActions: TodoActions = {
    setDone: (todo, done) => report(setTodoDone(store, todo, done)),
    remove: (todo) => report(deleteTodo(store, todo)),
  };

  const render = (): void => {
    const lists = readLists(store);
    const selected = selectedIn(lists);
    if (selected?.id !== shown?.listId) {
      shown?.unbindNotes();
      shown = selected && { listId: selected.id, unbindNotes: bindNotes(page.notes, store.ydoc, notesOf(store, selected.id)) };
      if (!shown) page.notes.value = "";
      announce();
    }
    page.notes.disabled = page.newTodo.disabled = selected === undefined;
    renderLists(page.lists, lists, selected?.id, select);
    page.listTitle.textContent = selected?.title ?? "No list";
    renderTodos(page.todos, selected ? readTodos(store, selected.id) : [], todoActions);
    renderPresence(page.presence, readVisitors(store.presence(), store.status().clientId), lists);
  };
  // Events come in bursts (a sync batch, a presence round): one render per task is enough.
  let renderQueued = false;
  const scheduleRender = (): void => {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
      renderQueued = false;
      try {
        render();
      } catch (e) {
        showError(e);
      }
    });
  };
  const refreshStatus = (): void => renderStatusBar(statusBar, store.status());

  store.subscribe({}, scheduleRender);
  store.subscribePresence(scheduleRender);
  addEventListener("hashchange", scheduleRender);
  onEnter(page.newList, (title) => {
    const { id, written } = addList(store, title);
    report(written);
    select(id);
  });
  onEnter(page.newTodo, (text) => {
    if (shown) report(addTodo(store, shown.listId, text));
  });
  page.name.addEventListener("change", () => {
    const wanted = page.name.value.trim();
    if (wanted === "") {
      page.name.value = name;
      return;
    }
    name = page.name.value = wanted;
    localStorage.setItem(NAME_KEY, name);
    announce();
  });
  statusBar.offlineToggle.addEventListener("change", () => {
    try {
      if (statusBar.offlineToggle.checked) store.disconnect();
      else store.connect();
      sessionStorage.setItem(OFFLINE_KEY, statusBar.offlineToggle.checked ? "1" : "0");
    } catch (e) {
      showError(e);
    }
    refreshStatus();
  });
  errorLine.addEventListener("click", () => (errorLine.textContent = ""));
  // Tell peers we left now, rather than when our presence times out; a page restored from the
  // back/forward cache has a closed store, so it starts afresh.
  addEventListener("pagehide", () => report(store.close()));
  addEventListener("pageshow", (event) => {
    if (event.persisted) location.reload();
  });

  render();
  refreshStatus();
  setInterval(refreshStatus, STATUS_REFRESH_MS);
  // When the page became usable, in ms since navigation started (`npm run bench -- demo` reads it).
  document.body.dataset["readyMs"] = performance.now().toFixed(1);
  document.body.dataset["ready"] = "true";
}

main().catch(showError);
