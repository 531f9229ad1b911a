/** The Gantt chart as SVG/HTML text: bars, critical path, numbers, legend, and scale to thousands of rows. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatMs, percent, tickLabel, tickStep } from '../../src/timeline/format.ts';
import { CRITICAL_COLOR, KIND_COLORS, renderHtml, renderSvg } from '../../src/timeline/render.ts';
import { sortExecutions, summarizeTimeline, type Execution, type Timeline } from '../../src/timeline/timeline.ts';
import { timelineFromJson } from '../../src/timeline/trace-file.ts';

const CORPUS = new URL('../../../shared/corpora/wfcommons/', import.meta.url);

const bar = (step: string, kind: string, start: number, end: number, extra: Partial<Execution> = {}): Execution => ({
  step,
  attempt: 1,
  kind,
  category: step,
  status: 'succeeded',
  start,
  end,
  ...extra,
});

const small: Timeline = {
  title: 'run r-1 · demo <&>',
  workflow: 'demo',
  runId: 'r-1',
  status: 'succeeded',
  startedAt: 1000,
  finishedAt: 1400,
  needs: { a: [], b: [], c: ['a', 'b'] },
  executions: sortExecutions([
    bar('a', 'function', 1010, 1100, { initMs: 60 }),
    bar('b', 'process', 1010, 1300, { attempt: 1, status: 'failed' }),
    bar('b', 'process', 1305, 1340, { attempt: 2 }),
    bar('c', 'simulate', 1350, 1390),
  ]),
  schedule: 'measured',
  notes: ['a note'],
};

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

describe('renderSvg', () => {
  const s = summarizeTimeline(small);
  const svg = renderSvg(small, s);

  it('draws one bar per execution and marks the critical path', () => {
    expect(count(svg, /<rect class="bar /g)).toBe(4);
    expect(s.criticalPath.map((i) => `${small.executions[i]!.step}#${small.executions[i]!.attempt}`)).toEqual(['b#1', 'b#2', 'c#1']);
    expect(count(svg, /<rect class="bar [a-z]+ crit"/g)).toBe(3);
    expect(count(svg, /class="crit-mark"/g)).toBe(3);
    // One connector segment per link of the chain.
    expect(count(svg.match(/class="crit-link" d="([^"]*)"/)![1]!, /M/g)).toBe(2);
    expect(svg).toContain(`stroke:${CRITICAL_COLOR}`);
  });

  it('colours bars by executor kind and dims failed attempts', () => {
    expect(svg).toMatch(new RegExp(`<rect class="bar succeeded" [^>]*fill="${KIND_COLORS.function}"`));
    expect(svg).toMatch(new RegExp(`<rect class="bar failed crit" [^>]*fill="${KIND_COLORS.process}"`));
    expect(svg).toMatch(new RegExp(`<rect class="bar succeeded crit" [^>]*fill="${KIND_COLORS.simulate}"`));
    for (const kind of ['function', 'process', 'simulate']) expect(svg).toMatch(new RegExp(`<text x="18" y="10">${kind}</text>`));
  });

  it('prints makespan, critical path and overhead in the header and on the root element', () => {
    expect(s).toMatchObject({ makespanMs: 400, criticalPathMs: 365, overheadMs: 35 });
    expect(svg).toContain('makespan <tspan class="v">400 ms</tspan>');
    expect(svg).toContain('critical path <tspan class="v">365 ms</tspan> (3 executions)');
    expect(svg).toContain('overhead <tspan class="v">35 ms</tspan> (8.8% of makespan)');
    expect(svg).toMatch(/data-executions="4" data-critical="3" data-makespan-ms="400" data-critical-path-ms="365" data-overhead-ms="35"/);
    expect(svg).toContain('note: a note');
  });

  it('labels rows, escapes text and is standalone', () => {
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('run r-1 · demo &lt;&amp;&gt;');
    expect(svg).not.toContain('demo <&>');
    expect(svg).toMatch(/<text class="label crit-label"[^>]*>b #2<\/text>/);
    expect(svg).toMatch(/<title>b #2 \(attempt 2\) · process · succeeded · start \+305 ms · took 35 ms · on the critical path<\/title>/);
    // A run trace's init (a function worker's start) is in the bar's tip.
    expect(svg).toMatch(/<title>a \(attempt 1\) · function · succeeded · start \+10 ms · took 90 ms, 60 ms of it init<\/title>/);
    expect(svg).not.toMatch(/<script|href=|url\(/);
  });

  it('writes control characters of a trace\'s names as \\uXXXX (XML cannot hold them), and a kind named like an Object property gets the other colour', () => {
    const hostile: Timeline = {
      ...small,
      title: 'ti\u0001tle',
      needs: {},
      executions: [bar('a\u0000b\u001b[31m', 'constructor', 1010, 1100), bar('c\ud800', 'toString', 1010, 1200)],
    };
    const text = renderSvg(hostile, summarizeTimeline(hostile));
    // Characters XML 1.0 does not allow: one makes the whole SVG file unreadable to a viewer.
    expect(text).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]/);
    expect(text).toContain('ti\\u0001tle');
    expect(text).toContain('a\\u0000b\\u001b[31m');
    expect(text).toContain('c\\ud800');
    expect(text).not.toContain('native code');
    expect(count(text, /fill="#9c9c9c"/g)).toBeGreaterThanOrEqual(2);
  });

  it('shortens a row label too long for the label column from its start, keeping its end (it ran off the left edge, cut)', () => {
    const long = `${'very_long_step_name_'.repeat(5)}a`;
    const t: Timeline = { ...small, needs: { [long]: [], c: [long] }, executions: sortExecutions([bar(long, 'simulate', 1010, 1100, { item: 12, attempt: 2 }), bar('c', 'simulate', 1100, 1390)]) };
    const out = renderSvg(t, summarizeTimeline(t));
    const labels = [...out.matchAll(/<text class="label[^"]*"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
    // The column is at most 280 px wide, 7.2 px a bold character: 37 characters, the item and attempt kept.
    expect(labels).toEqual([`…${`${long}[12] #2`.slice(-36)}`, 'c']);
    // The whole label is in the bar's tip.
    expect(out).toContain(`<title>${long}[12] #2 (attempt 2)`);
  });

  it('places bars on the time scale: the run start at the left edge, the run end at the right', () => {
    const rects = [...svg.matchAll(/<rect class="bar [^"]*" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    const axis = svg.match(/<line class="axis" x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"/)!;
    const [left, right] = [Number(axis[1]), Number(axis[2])];
    const x = (t: number) => left + ((t - 1000) / 400) * (right - left);
    // Rows in start order: a and b#1 at 1010, b#2 at 1305, c at 1350.
    expect(rects[0]![0]).toBeCloseTo(x(1010), 1);
    expect(rects[2]![0]).toBeCloseTo(x(1305), 1);
    expect(rects[3]![0] + rects[3]![1]).toBeCloseTo(x(1390), 1);
  });

  it('html wraps the same chart in a page without external assets', () => {
    const html = renderHtml(small, s);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<title>timeline: run r-1 · demo &lt;&amp;&gt;</title>');
    expect(count(html, /<rect class="bar /g)).toBe(4);
    expect(html.replace('xmlns="http://www.w3.org/2000/svg"', '')).not.toMatch(/https?:|<script|<link/);
  });

  it('colours by category on request, one colour per category', () => {
    const byCat = renderSvg(small, s, { colorBy: 'category' });
    const fills = new Map([...byCat.matchAll(/<rect class="bar [^"]*" [^>]*fill="(#[0-9a-f]{6})"><title>(\w)/g)].map((m) => [m[2], m[1]]));
    expect(fills.size).toBe(3);
    expect(new Set(fills.values()).size).toBe(3);
  });

  it('stays compact for thousands of executions: 2 px rows, numbered instead of labelled, two axes', () => {
    const t = timelineFromJson(JSON.parse(readFileSync(new URL('epigenomics-chameleon-ilmn-6seq-50k-001.json', CORPUS), 'utf8')), 'epigenomics.json');
    const big = renderSvg(t, summarizeTimeline(t));
    expect(count(big, /<rect class="bar /g)).toBe(1695);
    expect(big).not.toContain('class="label');
    expect(count(big, /class="row-no"/g)).toBeGreaterThan(5);
    expect(count(big, /<line class="axis"/g)).toBe(2);
    const height = Number(big.match(/<svg [^>]*height="(\d+)"/)![1]);
    expect(height).toBeGreaterThan(1695 * 2);
    expect(height).toBeLessThan(1695 * 2 + 400);
    // The legend is capped and says how many categories it left out, if any.
    expect(count(big, /<g class="legend"/g)).toBeLessThanOrEqual(27);
  });

  it('draws an empty run without failing', () => {
    const empty: Timeline = { ...small, executions: [], needs: {} };
    const out = renderSvg(empty, summarizeTimeline(empty));
    expect(out).toContain('no executions recorded');
    expect(count(out, /<rect class="bar /g)).toBe(0);
  });
});

describe('format', () => {
  it('formats durations', () => {
    expect(formatMs(0)).toBe('0 ms');
    expect(formatMs(0.44)).toBe('0.4 ms');
    expect(formatMs(54)).toBe('54 ms');
    expect(formatMs(21_385)).toBe('21.385 s');
    expect(formatMs(1_084_123)).toBe('1084.123 s (18m 04s)');
    // Past an hour, in hours too (227m 13s read badly).
    expect(formatMs(13_633_400)).toBe('13633.4 s (3h 47m 13s)');
    expect(formatMs(3_600_000)).toBe('3600 s (1h 00m 00s)');
    expect(percent(35, 400)).toBe('8.8%');
    expect(percent(1, 0)).toBe('0%');
  });

  it('picks round tick spacings', () => {
    expect(tickStep(400, 10)).toBe(50);
    expect(tickStep(21_385, 12)).toBe(2000);
    expect(tickStep(1_084_123, 12)).toBe(120_000);
    expect(tickStep(30 * 3_600_000, 4)).toBe(10 * 3_600_000);
    expect(tickStep(0, 10)).toBe(1);
    expect(tickLabel(150, 50)).toBe('150 ms');
    expect(tickLabel(4000, 2000)).toBe('4 s');
    expect(tickLabel(240_000, 120_000)).toBe('4 min');
  });
});
