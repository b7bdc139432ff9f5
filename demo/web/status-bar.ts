/**
 * The top bar's status: the connection to the sync server and what it does not hold yet (the
 * writes made here that are not durable on the server, and how long the oldest has waited).
 */
import type { EventualStatus } from "concord-store";

/** The status bar's elements (from the page shell). */
export interface StatusBarElements {
  /** The raw connection state: `open`, `connecting`, `waiting`, `offline`, `closed`. */
  readonly connection: HTMLElement;
  /** The number of pending writes, as a bare integer. */
  readonly pending: HTMLElement;
  /** The age of the oldest pending write, e.g. "3.4 s". */
  readonly pendingAge: HTMLElement;
  /** "all saved" when nothing is pending, empty otherwise. */
  readonly saved: HTMLElement;
  /** The offline switch: checked while the app asked to be offline. */
  readonly offlineToggle: HTMLInputElement;
}

/** Shows `status`; cheap enough to call every 250 ms so that ages move. */
export function renderStatusBar(elements: StatusBarElements, status: EventualStatus): void {
  const server = status.server;
  const state = server?.connection?.state ?? (server?.connected ? "open" : "connecting");
  const pending = server?.pendingWrites ?? status.pendingWrites;
  const oldestMs = server?.oldestPendingMs ?? status.oldestPendingMs;
  elements.connection.textContent = state;
  elements.connection.dataset["state"] = state;
  elements.connection.title = describeClose(server?.connection?.lastClose);
  elements.pending.textContent = String(pending);
  elements.pendingAge.textContent = formatAge(oldestMs);
  elements.saved.textContent = pending === 0 ? "all saved" : "";
  elements.offlineToggle.checked = state === "offline";
}

/** An age in ms as seconds with one decimal: 3421 -> "3.4 s". */
export function formatAge(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function describeClose(lastClose: { readonly code: number; readonly reason: string } | undefined): string {
  return lastClose ? `last close: ${lastClose.code} ${lastClose.reason}`.trim() : "";
}
