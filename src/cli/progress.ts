/** Run progress on stderr: a bar on a TTY, a line per finished step otherwise, nothing for --json off a TTY. */
import type { Progress, RunResult, TraceRecord } from '../adapters/local/engine.ts';
import { runErrorLine } from './local-runs.ts';

/** `tagRuns`: several runs report at once (`resume`): each line off a terminal starts with its run id. */
type Options = { json: boolean; tty: boolean; stream: NodeJS.WriteStream; tagRuns?: boolean };

/**
 * Off a terminal, how many executions of one forEach step's items get a line each (and as many
 * more for those that did not succeed); the others are counted, and summed up at the end. A
 * fan-out of 400,000 items wrote 400,000 lines.
 */
export const ITEM_LINES = 10;

/** Executions of a forEach step's items that got no line of their own, by how they ended. */
type Unlisted = { listed: number; listedBad: number; counts: Map<string, number> };

/** Creates the progress reporter for `joinflow run`. */
export function createProgress(options: Options): {
  step: (runId: string, record: TraceRecord, progress: Progress) => void;
  done: (result: RunResult) => void;
} {
  const { stream } = options;
  let last = 0;
  let drawn = false;
  // By run, then step: `resume` reports several runs, each summed up when it ends.
  const items = new Map<string, Map<string, Unlisted>>();
  const bar = (p: Progress): void => {
    const width = 30;
    const filled = p.total === 0 ? width : Math.min(width, Math.round((p.done / p.total) * width));
    stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} steps, ${p.running} running, ${p.failed} failed\x1b[K`);
    drawn = true;
  };
  /** Whether this item execution gets its own line; counted otherwise. */
  const listItem = (runId: string, r: TraceRecord): boolean => {
    let steps = items.get(runId);
    if (!steps) items.set(runId, (steps = new Map()));
    let u = steps.get(r.step);
    if (!u) steps.set(r.step, (u = { listed: 0, listedBad: 0, counts: new Map() }));
    if (r.status === 'succeeded' ? u.listed < ITEM_LINES : u.listedBad < ITEM_LINES) {
      if (r.status === 'succeeded') u.listed++;
      else u.listedBad++;
      return true;
    }
    if (u.counts.size === 0) stream.write(`${tag(runId)}... ${r.step}[*]: more than ${ITEM_LINES} items; the others are counted, not listed (summed up at the end)\n`);
    u.counts.set(r.status, (u.counts.get(r.status) ?? 0) + 1);
    return false;
  };
  const mark = (status: string): string => (status === 'succeeded' ? 'ok' : status);
  const tag = (runId: string): string => (options.tagRuns ? `${runId}: ` : '');
  return {
    step(runId, r, p) {
      if (options.tty) {
        const now = Date.now();
        if (now - last < 100 && p.done < p.total) return;
        last = now;
        bar(p);
      } else if (!options.json) {
        if (r.item !== undefined && !listItem(runId, r)) return;
        const name = r.item === undefined ? r.step : `${r.step}[${r.item}]`;
        // A step that first had to start its worker or load its module says how long that took.
        const init = r.initMs === undefined || r.initMs === 0 ? '' : `, ${r.initMs} ms of it init`;
        stream.write(`${tag(runId)}${mark(r.status).padEnd(9)} ${name} (attempt ${r.attempt}, ${r.end - r.start} ms${init})\n`);
      }
    },
    done(result) {
      if (drawn) stream.write('\n');
      for (const [step, u] of items.get(result.runId) ?? []) {
        if (u.counts.size === 0) continue;
        const total = [...u.counts.values()].reduce((a, b) => a + b, 0);
        const by = [...u.counts].map(([status, n]) => `${n.toLocaleString('en-US')} ${mark(status)}`).join(', ');
        stream.write(`${tag(result.runId)}... ${step}[*]: ${total.toLocaleString('en-US')} more item execution(s) not listed: ${by}\n`);
      }
      items.delete(result.runId);
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
