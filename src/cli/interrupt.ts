/**
 * A durable run stopped by a signal (Ctrl-C, SIGTERM, SIGHUP) is interrupted, not lost: said on
 * stderr when the signal comes, with how to continue it. The process then ends by that signal,
 * as it would have without the note (exit status 128 + the signal's number in a shell), after
 * stopping the subscription commands it ran, the processes of its process steps and those its
 * function handlers started.
 */
import { stopCommandTargets } from '../adapters/local/subscription-targets.ts';
import { stopProcessSteps } from '../adapters/local/process-executor.ts';
import { stopHandlerProcesses } from '../adapters/local/worker-processes.ts';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Notes the signal with `message(signal)` until the returned function is called. */
export function noteInterrupt(message: (signal: NodeJS.Signals) => string): () => void {
  const off = () => {
    for (const s of SIGNALS) process.off(s, on);
  };
  function on(signal: NodeJS.Signals): void {
    off();
    // Subscription commands under way run in process groups of their own, which the signal does
    // not reach: they are stopped, and run again with the deliveries left pending.
    stopCommandTargets();
    // So are the processes function handlers started (the engine does not close): they are the
    // engine's own children, which a signal sent to it alone does not reach.
    stopHandlerProcesses();
    // And the processes of process steps: the terminal's Ctrl-C reaches them (they are in the
    // engine's process group), a signal sent to the engine alone does not.
    stopProcessSteps();
    // On a new line: a progress bar may be on the terminal's last.
    process.stderr.write(`\n${message(signal)}\n`);
    process.kill(process.pid, signal);
  }
  for (const s of SIGNALS) process.on(s, on);
  return off;
}
