/**
 * `joinflow timeline <runId|trace.json> [-o FILE.html|.svg|.json] [--json]`: a Gantt chart of a
 * run's executions with its critical path, from the embedded engine's state dir or a trace file.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../model/errors.ts';
import { formatMs, percent } from '../timeline/format.ts';
import { visible } from '../model/errors.ts';
import { renderHtml, renderSvg, type ColorBy } from '../timeline/render.ts';
import { TimelineInputError, timelineFromJson, timelineFromRunTrace, toTrace } from '../timeline/trace-file.ts';
import type { TriggerPlan } from '../model/plan.ts';
import { compileFile, findWorkflowFile } from '../adapters/local/workflow-files.ts';
import { summarizeTimeline, type Timeline, type TimelineSummary } from '../timeline/timeline.ts';
import { outputFile, writeOutput } from './input.ts';
import { emptyForEachSteps, interrupted } from './local-runs.ts';
import { localTimeline } from './local-timeline.ts';
import { openState, stateDir } from './state.ts';
import { parseJsonStrict } from '../adapters/local/plain-json.ts';
import { stateCommand } from './hint.ts';
import { runOrRequest } from '../adapters/local/recovery.ts';

export { TIMELINE_HELP } from './help.ts';

const OUTPUTS = { '.html': 'html', '.htm': 'html', '.svg': 'svg', '.json': 'json' } as const;

/** Runs `joinflow timeline`; 0 written, 1 no such run, 2 bad usage or unreadable trace. */
export async function timelineCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      json: { type: 'boolean', default: false },
      state: { type: 'string' },
      color: { type: 'string' },
      width: { type: 'string' },
      workflow: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('name one run id or trace file (joinflow timeline <runId|trace.json> -o run.html)');
  const source = positionals[0]!;
  const kind = values.out === undefined ? undefined : OUTPUTS[path.extname(values.out).toLowerCase() as keyof typeof OUTPUTS];
  if (values.out !== undefined && kind === undefined) {
    throw new UsageError(`-o ${values.out}: the extension chooses the output and must be .html, .svg or .json`);
  }
  if (values.color !== undefined && values.color !== 'kind' && values.color !== 'category') {
    throw new UsageError(`--color must be kind or category (got "${values.color}")`);
  }
  if (values.out !== undefined) outputFile('-o', values.out);
  const width = values.width === undefined ? undefined : Number(values.width);
  if (width !== undefined && !(Number.isInteger(width) && width >= 480 && width <= 20_000)) {
    throw new UsageError(`--width must be a whole number of pixels from 480 to 20000 (got "${values.width}")`);
  }

  const isFile = source.toLowerCase().endsWith('.json') || existsSync(source);
  if (isFile && values.state !== undefined) throw new UsageError('--state reads runs of the local engine; it does not go with a trace file');
  if (!isFile && values.workflow !== undefined) throw new UsageError(`--workflow goes with a 'joinflow run --trace' file; a run of the state dir has its own plan`);
  // The workflow a `run --trace` file came from: the file has no step graph of its own.
  const workflowFile = values.workflow === undefined ? undefined : findWorkflowFile(values.workflow);
  if (values.out !== undefined) {
    // -o over an input would destroy it (the write comes after the read): refuse it.
    for (const [input, what] of [[isFile ? source : undefined, 'the trace being read'], [workflowFile, 'the workflow being read']] as const) {
      if (input !== undefined && sameFile(values.out, input)) throw new UsageError(`-o ${values.out}: is ${what} (${input}); write the output to another file`);
    }
  }
  const plan = workflowFile === undefined ? undefined : await compileFile(workflowFile);
  const timeline = isFile ? readTrace(source, plan) : await readRun(values.state, source);
  if (timeline === undefined) return 1;

  const summary = summarizeTimeline(timeline);
  // A WfCommons trace's tasks are all simulate steps: their categories tell more apart.
  const colorBy: ColorBy = (values.color as ColorBy | undefined) ?? (timeline.executions.every((e) => e.kind === 'simulate') && isFile ? 'category' : 'kind');
  const options = { colorBy, ...(width === undefined ? {} : { width }) };
  if (values.out !== undefined) {
    const text =
      kind === 'json' ? `${JSON.stringify(toTrace(timeline, summary), null, 1)}\n` : kind === 'svg' ? renderSvg(timeline, summary, options) : renderHtml(timeline, summary, options);
    writeOutput('-o', values.out, text);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(toTrace(timeline, summary))}\n`);
  else process.stdout.write(report(timeline, summary));
  if (values.out !== undefined) process.stderr.write(`wrote ${values.out} (${timeline.executions.length} ${timeline.executions.length === 1 ? 'bar' : 'bars'})\n`);
  return 0;
}

/** True when both paths name one existing file: the same real path, or a hard link to it. */
function sameFile(a: string, b: string): boolean {
  try {
    if (realpathSync(a) === realpathSync(b)) return true;
    const [sa, sb] = [statSync(a), statSync(b)];
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    // One of them does not exist (or cannot be read): not the same file, and the read says why.
    return false;
  }
}

/** Reads a trace file (WfCommons, joinflow timeline trace, or run trace of `plan`); errors name the file. */
function readTrace(file: string, plan: TriggerPlan | undefined): Timeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TimelineInputError(`${file}: cannot read the trace file (${code === 'ENOENT' ? 'no such file' : (error as Error).message})`);
  }
  let json: unknown;
  try {
    json = parseJsonStrict(text);
  } catch (error) {
    throw new TimelineInputError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  return plan ? timelineFromRunTrace(json, file, plan, path.basename(file)) : timelineFromJson(json, file, path.basename(file));
}

/** Reads a run of the local state dir; undefined (after saying so) when there is no such run. */
async function readRun(stateFlag: string | undefined, runId: string): Promise<Timeline | undefined> {
  const dir = stateDir(stateFlag);
  const state = openState(dir, { mustExist: true });
  try {
    // Accepted and not started (its Run Requested on file, not handled): charted as its request gives it, with no bars.
    const run = (await runOrRequest(state.store, state.log, runId))?.record;
    if (!run) {
      process.stderr.write(`joinflow timeline: no run "${runId}" in ${dir} (see '${stateCommand(dir, 'list')}'; a trace file must end in .json)\n`);
      return undefined;
    }
    // Running (or stopping its steps, its end not on file yet) with its engine gone.
    const gone = interrupted(run, state.log.runOptions(runId));
    const tasks = state.log.tasks(runId);
    const plan = state.log.runPlan(runId);
    return localTimeline(run, tasks, plan, Date.now(), gone, await emptyForEachSteps(state.store, runId, tasks, plan), stateCommand(dir, 'resume', runId));
  } finally {
    state.close();
  }
}

/** The numbers as printed on stdout. */
function report(t: Timeline, s: TimelineSummary): string {
  const path = s.criticalPath.map((i) => {
    const e = t.executions[i]!;
    return `${e.step}${e.item === undefined ? '' : `[${e.item}]`}${e.attempt > 1 ? ` #${e.attempt}` : ''}`;
  });
  const shown = path.length > 12 ? [...path.slice(0, 5), `... ${path.length - 10} more ...`, ...path.slice(-5)] : path;
  const lines = [
    `${t.title}: ${t.executions.length} ${t.executions.length === 1 ? 'execution' : 'executions'} (${t.schedule === 'measured' ? 'measured' : 'ideal schedule'})`,
    `makespan       ${formatMs(s.makespanMs)}`,
    `critical path  ${formatMs(s.criticalPathMs)} (${path.length} execution${path.length === 1 ? '' : 's'}: ${shown.join(' -> ') || 'none'})`,
    `overhead       ${formatMs(s.overheadMs)} (${percent(s.overheadMs, s.makespanMs)} of makespan)`,
    ...t.notes.map((n) => `note: ${n}`),
  ];
  // Names and notes from a trace file: a control character in one is shown, not sent to the terminal.
  return `${lines.map((l) => visible(l)).join('\n')}\n`;
}
