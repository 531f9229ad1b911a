/**
 * `joinflow timeline` through the real bin: a local run of every executor kind (with a retried
 * step and a forEach) drawn as HTML, checked for its numbers and rendered in headless Chromium;
 * the trace export re-rendered; a WfCommons corpus trace; and the errors.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatMs } from '../../src/timeline/format.ts';
import { CRITICAL_COLOR, KIND_COLORS } from '../../src/timeline/render.ts';
import { joinflow } from '../helpers/cli.ts';
import { countColour, decodePng, PNG_SIGNATURE } from '../helpers/png.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-timeline-');
const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
const MONTAGE = path.resolve(import.meta.dirname, '../../../shared/corpora/wfcommons/montage-chameleon-2mass-005d-001.json');

type Exec = { step: string; item?: number; attempt: number; kind: string; status: string; start: number; end: number };
type Trace = {
  format: string;
  runId: string;
  startedAt: number;
  finishedAt: number;
  needs: Record<string, string[]>;
  executions: Exec[];
  summary: { makespanMs: number; criticalPathMs: number; overheadMs: number; criticalPath: Array<{ step: string; item?: number; attempt: number }> };
};

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;
const key = (e: { step: string; item?: number; attempt: number }) => `${e.step}${e.item === undefined ? '' : `[${e.item}]`}#${e.attempt}`;

describe('joinflow timeline of a local run', () => {
  let state = '';
  let dir = '';
  let runId = '';
  let trace: Trace;

  beforeAll(() => {
    state = tmp();
    dir = tmp();
    const run = joinflow(['run', 'test/fixtures/workflows/timeline.yaml', '--input', '{"tag":"t"}', '--json', '--state', state]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { runId: string; steps: unknown };
    runId = result.runId;
    // Read back from the durable log: the two retries of `flaky` are logged attempts too.
    expect(result.steps).toEqual({ total: 10, succeeded: 10, failed: 0, cancelled: 0, retried: 2 });
    const json = joinflow(['timeline', runId, '--json', '--state', state]);
    expect(json.code, json.stderr).toBe(0);
    trace = JSON.parse(json.stdout) as Trace;
  }, 120_000);

  it('has one execution per attempt and per forEach item, of every executor kind', () => {
    expect(trace.format).toBe('joinflow-timeline');
    expect(trace.runId).toBe(runId);
    expect(trace.executions.map(key).sort()).toEqual(
      ['count#1', 'each[0]#1', 'each[1]#1', 'each[2]#1', 'flaky#1', 'flaky#2', 'flaky#3', 'greet#1', 'pack#1', 'prepare#1', 'report#1', 'train#1'].sort(),
    );
    expect(new Set(trace.executions.map((e) => e.kind))).toEqual(new Set(['simulate', 'function', 'process', 'batch', 'container']));
    expect(trace.executions.filter((e) => e.step === 'flaky').map((e) => e.status)).toEqual(['failed', 'failed', 'succeeded']);
    const starts = trace.executions.map((e) => e.start);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    for (const e of trace.executions) expect(e.end).toBeGreaterThanOrEqual(e.start);
  });

  it('the critical path is a dependency chain ending at the last finish, and the numbers add up', () => {
    const { summary, executions, needs } = trace;
    const byKey = new Map(executions.map((e) => [key(e), e]));
    const chain = summary.criticalPath.map((c) => byKey.get(key(c))!);
    expect(chain.every(Boolean)).toBe(true);
    expect(chain.at(-1)!.step).toBe('report');
    expect(chain.at(-1)!.end).toBe(Math.max(...executions.map((e) => e.end)));
    for (let k = 1; k < chain.length; k++) {
      const [a, b] = [chain[k - 1]!, chain[k]!];
      const retry = a.step === b.step && a.item === b.item && b.attempt === a.attempt + 1;
      expect(retry || needs[b.step]!.includes(a.step), `${key(a)} -> ${key(b)}`).toBe(true);
      expect(b.start).toBeGreaterThanOrEqual(a.end);
    }
    expect(summary.criticalPathMs).toBe(chain.reduce((sum, e) => sum + e.end - e.start, 0));
    expect(summary.makespanMs).toBe(trace.finishedAt - trace.startedAt);
    expect(summary.overheadMs).toBe(summary.makespanMs - summary.criticalPathMs);
    expect(summary.overheadMs).toBeGreaterThanOrEqual(0);
  });

  it('-o run.html writes the chart and prints the same numbers on stdout', () => {
    const html = path.join(dir, 'run.html');
    const r = joinflow(['timeline', runId, '--state', state, '-o', html]);
    expect(r.code, r.stderr).toBe(0);
    const { makespanMs, criticalPathMs, overheadMs, criticalPath } = trace.summary;
    expect(r.stdout).toContain(`timeline-demo: 12 executions (measured)`);
    expect(r.stdout).toMatch(new RegExp(`^makespan +${fmt(makespanMs)}$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^critical path +${fmt(criticalPathMs)} \\(${criticalPath.length} executions: [^)]*report\\)$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^overhead +${fmt(overheadMs)} \\(`, 'm'));
    expect(r.stderr).toContain(`wrote ${html} (12 bars)`);
    const text = readFileSync(html, 'utf8');
    expect(text.startsWith('<!doctype html>')).toBe(true);
    expect(count(text, /<rect class="bar /g)).toBe(12);
    expect(count(text, /<rect class="bar [a-z]+ crit"/g)).toBe(criticalPath.length);
    expect(text).toContain(`makespan <tspan class="v">${formatMs(makespanMs)}</tspan>`);
  });

  it('renders in headless Chromium: a 1200x800 screenshot with the bars and the critical path in it', () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: this test needs Chromium (Debian: apt-get install -y chromium; .ci/run installs it), or set CHROMIUM to its path`);
    }
    const html = path.join(dir, 'shot.html');
    expect(joinflow(['timeline', runId, '--state', state, '-o', html]).code).toBe(0);
    const png = path.join(dir, 'shot.png');
    const r = spawnSync(
      CHROMIUM,
      ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${path.join(dir, 'profile')}`, `--screenshot=${png}`, '--window-size=1200,800', `file://${html}`],
      { encoding: 'utf8', timeout: 90_000 },
    );
    expect(r.status, `chromium failed: ${r.error?.message ?? ''}\n${r.stderr}`).toBe(0);
    expect(existsSync(png), 'no screenshot written').toBe(true);
    const bytes = readFileSync(png);
    expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(5_000);
    const img = decodePng(bytes);
    expect([img.width, img.height]).toEqual([1200, 800]);
    // Only the plot: below the time axis, so the legend's swatches do not count.
    const axisY = Number(readFileSync(html, 'utf8').match(/<line class="axis" x1="[\d.]+" y1="([\d.]+)"/)![1]);
    const plot = { ...img, height: img.height - Math.ceil(axisY), rgba: img.rgba.subarray(Math.ceil(axisY) * img.width * 4) };
    for (const kind of ['simulate', 'function', 'process', 'batch', 'container'] as const) {
      expect(countColour(plot, KIND_COLORS[kind]!), `${kind} bars in the screenshot`).toBeGreaterThan(100);
    }
    expect(countColour(plot, CRITICAL_COLOR), 'critical path in the screenshot').toBeGreaterThan(100);
    expect(countColour(img, '#ffffff', 0)).toBeLessThan(img.width * img.height * 0.98);
  }, 120_000);

  it('-o trace.json exports the run; the export renders to SVG with the same numbers', () => {
    const json = path.join(dir, 'trace.json');
    const first = joinflow(['timeline', runId, '--state', state, '-o', json]);
    expect(first.code, first.stderr).toBe(0);
    const exported = JSON.parse(readFileSync(json, 'utf8')) as Trace;
    expect(exported.executions).toEqual(trace.executions);
    const svg = path.join(dir, 'again.svg');
    const again = joinflow(['timeline', json, '-o', svg]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<?xml')).toBe(true);
    expect(count(text, /<rect class="bar /g)).toBe(12);
  });
});

describe('joinflow timeline of a WfCommons trace', () => {
  it('Montage: 58 bars, the ideal schedule said so, critical path as in SOURCES.md', () => {
    const out = path.join(tmp(), 'montage.html');
    const r = joinflow(['timeline', MONTAGE, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('montage-chameleon-2mass-005d-001.json: 58 executions (ideal schedule)');
    expect(r.stdout).toMatch(/^makespan +21\.385 s$/m);
    expect(r.stdout).toMatch(/^critical path +21\.385 s \(8 executions: mProject_ID\d+ -> .* -> mViewer_ID0000058\)$/m);
    expect(r.stdout).toMatch(/^overhead +0 ms/m);
    expect(r.stdout).toContain('note: the trace has no task start times');
    const html = readFileSync(out, 'utf8');
    expect(count(html, /<rect class="bar /g)).toBe(58);
    expect(count(html, /<rect class="bar [a-z]+ crit"/g)).toBe(8);
    // Coloured by task type: Montage has eight.
    for (const c of ['mProject', 'mDiffFit', 'mConcatFit', 'mBgModel', 'mBackground', 'mImgtbl', 'mAdd', 'mViewer']) expect(html).toContain(`>${c}</text>`);
  });
});

describe('joinflow timeline of a one-step run', () => {
  it('says 1 execution and 1 bar', () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    writeFileSync(path.join(dir, 'one.yaml'), 'name: one\nsteps:\n  only: { executor: { type: simulate, durationMs: 0 } }\n');
    const run = joinflow(['run', path.join(dir, 'one.yaml'), '--state', state, '--run-id', 'one-1']);
    expect(run.code, run.stderr).toBe(0);
    const svg = path.join(dir, 'one.svg');
    const r = joinflow(['timeline', 'one-1', '--state', state, '-o', svg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('one: 1 execution (measured)');
    expect(r.stderr).toContain(`wrote ${svg} (1 bar)`);
  });
});

describe('joinflow timeline of a run with a forEach over an empty array', () => {
  it('says the forEach step had no items, not that the run ended before it', () => {
    const state = tmp();
    const run = joinflow(['run', 'fanout', '--input', '{"n": 0}', '--state', state, '--run-id', 'empty-1']);
    expect(run.code, run.stderr).toBe(0);
    const r = joinflow(['timeline', 'empty-1', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('fanout: 2 executions (measured)');
    expect(r.stdout).toContain('note: steps that did not run: square (its forEach array was empty)\n');
  });
});

describe('joinflow timeline errors', () => {
  let state = '';
  beforeAll(() => {
    state = tmp();
    expect(joinflow(['run', 'test/fixtures/workflows/mix.yaml', '--input', '{"tag":"t"}', '--state', state]).code).toBe(0);
  }, 120_000);

  it('an unknown run id exits 1 naming it and the state dir', () => {
    const r = joinflow(['timeline', 'no-such-run', '--state', state, '-o', path.join(tmp(), 'x.html')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no run "no-such-run" in ${state}`);
  });

  it('a bad -o extension, a missing or invalid trace file, or no state dir exit 2 naming the problem', () => {
    let r = joinflow(['timeline', MONTAGE, '-o', 'chart.png']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('-o chart.png: the extension chooses the output and must be .html, .svg or .json');
    const d = tmp();
    r = joinflow(['timeline', path.join(d, 'missing.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path.join(d, 'missing.json')}: cannot read the trace file (no such file)`);
    const broken = path.join(d, 'broken.json');
    writeFileSync(broken, '{"workflow": ');
    r = joinflow(['timeline', broken]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${broken.replace(/[.]/g, '\\.')}: not valid JSON \\(`));
    const other = path.join(d, 'other.json');
    writeFileSync(other, '{"format": "joinflow-timeline", "version": 1}');
    r = joinflow(['timeline', other]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${other}: invalid joinflow timeline trace (6 problems):`);
    expect(r.stderr).toContain('  - executions:');
    r = joinflow(['timeline', 'some-run', '--state', path.join(d, 'nothing-here')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no joinflow state in');
    r = joinflow(['timeline', MONTAGE, '--color', 'rainbow']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--color must be kind or category');
  });

  it('shows the control characters of a trace file\'s names on stdout as \\uXXXX, not as the terminal escapes they are, and writes an SVG XML can read', () => {
    const d = tmp();
    const trace = path.join(d, 'hostile.json');
    writeFileSync(trace, JSON.stringify({
      format: 'joinflow-timeline', version: 1, title: 'run \u001b]0;pwned\u0007', workflow: 'w', startedAt: 0, schedule: 'measured', needs: {},
      executions: [{ step: 'a\u001b[2J\nb', attempt: 1, kind: 'process', status: 'succeeded', start: 0, end: 10 }],
    }));
    const svg = path.join(d, 'hostile.svg');
    const r = joinflow(['timeline', trace, '-o', svg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(r.stdout).toContain('run \\u001b]0;pwned\\u0007: 1 execution (measured)');
    expect(r.stdout).toContain('(1 execution: a\\u001b[2J\\u000ab)');
    expect(readFileSync(svg, 'utf8')).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f]/);
  });

  it('refuses a WfCommons trace whose task id holds a control character with a message that shows it as \\uXXXX', () => {
    const trace = path.join(tmp(), 'hostile-wfcommons.json');
    writeFileSync(trace, JSON.stringify({
      name: 'h', schemaVersion: '1.5',
      workflow: { specification: { tasks: [{ name: 'a', id: 'a\u001b]0;pwned\u0007', parents: [], children: [] }] }, execution: { tasks: [] } },
    }));
    for (const args of [['timeline', trace], ['import', 'wfcommons', trace]]) {
      const r = joinflow(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
      expect(r.stderr).toContain('workflow.specification.tasks[0].id: "a\\u001b]0;pwned\\u0007" is not a valid step id');
    }
  });

  it('is listed in the usage and has its own --help', () => {
    expect(joinflow(['--help']).stdout).toMatch(/^ {2}timeline <runId\|trace> /m);
    const r = joinflow(['timeline', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: joinflow timeline <runId|trace.json>');
  });
});

/** A printed duration, escaped for a RegExp. */
function fmt(ms: number): string {
  return formatMs(ms).replace(/[.()]/g, '\\$&');
}
