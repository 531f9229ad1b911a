/** Run progress on stderr: a bar on a TTY, a line per finished step otherwise, nothing for --json off a TTY. */
import type { Progress, RunResult, TraceRecord } from '../adapters/local/engine.ts';
import { runErrorLine } from './local-runs.ts';

type Options = { json: boolean; tty: boolean; stream: NodeJS.WriteStream };

/** Creates the progress reporter for `joinflow run`. */
export function createProgress(options: Options): {
  step: (runId: string, record: TraceRecord, progress: Progress) => void;
  done: (result: RunResult) => void;
} {
  const { stream } = options;
  let last = 0;
  let drawn = false;
  const bar = (p: Progress): void => {
    const width = 30;
    const filled = p.total === 0 ? width : Math.min(width, Math.round((p.done / p.total) * width));
    stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} steps, ${p.running} running, ${p.failed} failed\x1b[K`);
    drawn = true;
  };
  return {
    step(_runId, r, p) {
      if (options.tty) {
        const now = Date.now();
        if (now - last < 100 && p.done < p.total) return;
        last = now;
        bar(p);
      } else if (!options.json) {
        const name = r.item === undefined ? r.step : `${r.step}[${r.item}]`;
        const mark = r.status === 'succeeded' ? 'ok' : r.status;
        // A step that first had to start its worker or load its module says how long that took.
        const init = r.initMs === undefined || r.initMs === 0 ? '' : `, ${r.initMs} ms of it init`;
        stream.write(`${mark.padEnd(9)} ${name} (attempt ${r.attempt}, ${r.end - r.start} ms${init})\n`);
      }
    },
    done(result) {
      if (drawn) stream.write('\n');
      if (!options.json || options.tty) {
        const s = result.steps;
        stream.write(`run ${result.runId} ${result.status} in ${result.durationMs} ms: ${s.succeeded} succeeded, ${s.failed} failed, ${s.cancelled > 0 ? `${s.cancelled} cancelled, ` : ''}${s.skipped === undefined ? '' : `${s.skipped} skipped, `}${s.retried} retried, ${result.events} events\n`);
      }
      // The reason of a failure always reaches the user, whatever the output mode.
      if (result.error) stream.write(`${runErrorLine(result.error)}\n`);
      // Only a caught failure, or a spared need (wait: any | quorum), fails for good in a run that succeeds.
      else if (result.status === 'succeeded' && result.steps.failed > 0 && (!options.json || options.tty)) {
        stream.write(`note: ${result.steps.failed} step(s) failed or could not run, without failing the run (caught by a catch step, or spared by steps that wait for some of their needs)\n`);
      }
    },
  };
}
