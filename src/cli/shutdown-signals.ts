/**
 * SIGINT/SIGTERM for the long-running commands (`concord serve`, `concord node`): the first signal
 * shuts down gracefully, a second one exits at once. Signals are caught from the moment
 * {@link catchShutdownSignals} is called, BEFORE the command says it is ready: whoever reads its
 * "listening on" line may signal straight away.
 */
import type { ServerLog } from "../ops/log.js";

export interface ShutdownSignals {
  /** Stops catching signals (the command failed to start). */
  release(): void;
  /**
   * Resolves with the exit code once a signal came (or at once, if one already did) and `close`
   * settled: 0 when it resolved, 1 when it rejected (logged as `<command>.shutdown_failed`). A
   * second signal resolves 1 without waiting. Each signal is logged as `<command>.signal`.
   */
  closeOnSignal(close: () => Promise<void>, log: ServerLog): Promise<number>;
}

/** Starts catching SIGINT and SIGTERM for `command` (the prefix of its log events). */
export function catchShutdownSignals(command: string): ShutdownSignals {
  let signalledEarly: NodeJS.Signals | undefined;
  let onSignal = (signal: NodeJS.Signals): void => {
    signalledEarly ??= signal;
  };
  const handler = (signal: NodeJS.Signals): void => onSignal(signal);
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    release() {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
    closeOnSignal(close, log) {
      return new Promise<number>((resolve) => {
        let stopping = false;
        onSignal = (signal) => {
          if (stopping) {
            log.warn(`${command}.signal`, { signal, action: "exiting without waiting for the shutdown" });
            resolve(1);
            return;
          }
          stopping = true;
          log.info(`${command}.signal`, { signal, action: "shutting down gracefully; send it again to exit at once" });
          close().then(
            () => resolve(0),
            (error: unknown) => {
              log.error(`${command}.shutdown_failed`, { error });
              resolve(1);
            },
          );
        };
        if (signalledEarly !== undefined) onSignal(signalledEarly);
      });
    },
  };
}
