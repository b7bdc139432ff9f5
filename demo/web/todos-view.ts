/**
 * The selected list's todos: a checkbox for done, the text, a delete button.
 */
import type { Todo } from "./todo-lists.js";

/** What the todo rows can do; each returns nothing, the caller reports failures. */
export interface TodoActions {
  setDone(todo: Todo, done: boolean): void;
  remove(todo: Todo): void;
}

/** Renders `todos` into `ul`: one `li[data-todo-id]` each. */
export function renderTodos(ul: HTMLUListElement, todos: readonly Todo[], actions: TodoActions): void {
  ul.replaceChildren(
    ...todos.map((todo) => {
      const li = document.createElement("li");
      li.dataset["todoId"] = todo.id;
      li.classList.toggle("done", todo.done);
      const done = document.createElement("input");
      done.type = "checkbox";
      done.checked = todo.done;
      done.dataset["testid"] = "todo-done";
      done.setAttribute("aria-label", "done");
      done.addEventListener("change", () => actions.setDone(todo, done.checked));
      const text = document.createElement("span");
      text.dataset["testid"] = "todo-text";
      text.textContent = todo.text;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.dataset["testid"] = "todo-delete";
      remove.textContent = "Delete";
      remove.addEventListener("click", () => actions.remove(todo));
      li.append(done, text, remove);
      return li;
    }),
  );
}
