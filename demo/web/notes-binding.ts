/**
 * Binds a textarea to a Y.Text both ways. A local edit becomes one minimal change (common prefix
 * and suffix kept: one delete, one insert) in one transaction; any other change to the text
 * rewrites the textarea, with the caret and selection mapped through the change so they stay put.
 */
import * as Y from "yjs";

/** One contiguous replacement: `remove` code units at `index`, then `insert` there. */
export interface TextSplice {
  readonly index: number;
  readonly remove: number;
  readonly insert: string;
}

/**
 * Binds `textarea` to `text` (whose document is `ydoc`); the textarea takes the text's content
 * now. Returns the unbind function. Failures of the document (a closed store) reach the store's
 * `onError`, not the caller.
 */
export function bindNotes(textarea: HTMLTextAreaElement, ydoc: Y.Doc, text: Y.Text): () => void {
  const origin = Symbol("notes-binding");
  textarea.value = text.toString();

  const onInput = (): void => {
    const { index, remove, insert } = spliceBetween(text.toString(), textarea.value);
    if (remove === 0 && insert === "") return;
    ydoc.transact(() => {
      if (remove > 0) text.delete(index, remove);
      if (insert !== "") text.insert(index, insert);
    }, origin);
  };

  const onTextChange = (event: Y.YTextEvent, transaction: Y.Transaction): void => {
    if (transaction.origin === origin) return;
    const focused = document.activeElement === textarea;
    const { selectionStart, selectionEnd, selectionDirection } = textarea;
    textarea.value = text.toString();
    if (focused) {
      const delta = event.delta;
      textarea.setSelectionRange(mapIndex(delta, selectionStart), mapIndex(delta, selectionEnd), selectionDirection ?? "none");
    }
  };

  textarea.addEventListener("input", onInput);
  text.observe(onTextChange);
  return () => {
    textarea.removeEventListener("input", onInput);
    text.unobserve(onTextChange);
  };
}

/**
 * The one splice turning `before` into `after`: their common prefix and suffix are kept. Never
 * cuts a surrogate pair in two (Yjs would store a lone half as U+FFFD).
 */
export function spliceBetween(before: string, after: string): TextSplice {
  let prefix = 0;
  const shorter = Math.min(before.length, after.length);
  while (prefix < shorter && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  if (prefix > 0 && isHighSurrogate(before.charCodeAt(prefix - 1))) prefix--;
  let suffix = 0;
  while (
    suffix < shorter - prefix &&
    before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)
  ) {
    suffix++;
  }
  if (suffix > 0 && isLowSurrogate(before.charCodeAt(before.length - suffix))) suffix--;
  return { index: prefix, remove: before.length - prefix - suffix, insert: after.slice(prefix, after.length - suffix) };
}

/**
 * Where `index` (a position in the text before the change) lands after the change `delta`. Text
 * inserted exactly at `index` goes after it, so a remote edit at our caret doesn't push it along,
 * unless it replaces text that ended there (Yjs emits a replacement as delete, then insert).
 */
export function mapIndex(delta: Y.YTextEvent["delta"], index: number): number {
  let oldPos = 0;
  let mapped = index;
  let afterDelete = false;
  for (const op of delta) {
    if (oldPos > index) break;
    if (op.retain !== undefined) {
      oldPos += op.retain;
      afterDelete = false;
    } else if (op.insert !== undefined) {
      if (oldPos < index || afterDelete) mapped += typeof op.insert === "string" ? op.insert.length : 1;
    } else if (op.delete !== undefined) {
      mapped -= Math.min(op.delete, index - oldPos);
      oldPos += op.delete;
      afterDelete = oldPos === index;
    }
  }
  return mapped;
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;
