/**
 * The lists column: every list by title, the selected one marked with `aria-current`.
 */
import type { TodoList } from "./todo-lists.js";

/**
 * Renders `lists` into `ul`: one `li[data-list-id]` each, whose text is the title; clicking it
 * (or its button, for keyboards) calls `onSelect` with its id.
 */
export function renderLists(
  ul: HTMLUListElement,
  lists: readonly TodoList[],
  selectedId: string | undefined,
  onSelect: (listId: string) => void,
): void {
  ul.replaceChildren(
    ...lists.map((list) => {
      const li = document.createElement("li");
      li.dataset["listId"] = list.id;
      if (list.id === selectedId) li.setAttribute("aria-current", "true");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = list.title;
      li.append(button);
      li.addEventListener("click", () => onSelect(list.id));
      return li;
    }),
  );
}
