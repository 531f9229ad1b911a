/** The `--chaos` option of `joinflow run`: delivery faults on the embedded engine's bus. */
import { formatChaos, parseChaos, randomSeed, type ChaosOptions } from '../adapters/local/chaos.ts';
import { UsageError } from '../model/errors.ts';

/** Help lines for --chaos, aligned with the other options of `joinflow run --help`. */
export const CHAOS_HELP = `  --chaos LIST           deliver events as badly as EventBridge is allowed to, to show that
                         results do not depend on clean delivery. LIST is comma-separated:
                           duplicate[=P]  deliver an event 2-3 times with probability P
                                          (default 1: every event)
                           reorder[=N]    shuffle deliveries in windows of N (default 16)
                           delay[=MS]     hold each delivery back 0..MS ms (default 10)
                           seed=N         seed of the random choices (default: random,
                                          printed on stderr so the run can be replayed)
                           crash-at=N     the processor crashes right before its N-th
                                          effect: later effects are lost and the events
                                          it was handling are redelivered
                         e.g. --chaos duplicate,reorder=32,delay=20,seed=7
`;

/**
 * Reads the value of --chaos (undefined when the flag is absent). A seed is always filled in,
 * so the caller can print `--chaos ${formatChaos(options)}` to replay the run.
 */
export function chaosFromArgs(value: string | undefined): ChaosOptions | undefined {
  if (value === undefined) return undefined;
  let options: ChaosOptions;
  try {
    options = parseChaos(value);
  } catch (error) {
    throw new UsageError(`--chaos: ${(error as Error).message}`);
  }
  return { ...options, seed: options.seed ?? randomSeed() };
}

/** The stderr line that says which faults a run had; passing it again replays the same choices. */
export function chaosBanner(options: ChaosOptions): string {
  return `joinflow: --chaos ${formatChaos(options)} (the seed replays the same random choices)\n`;
}
