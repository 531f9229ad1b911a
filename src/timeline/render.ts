/**
 * The timeline as a Gantt chart: one SVG document, no scripts, no external assets. One row per
 * execution in start order (each attempt and each forEach item its own bar), coloured by executor
 * kind or category, the critical path outlined and joined in red, a time axis with grid lines,
 * a legend, and makespan / critical path / overhead in the header. Rows shrink to 2 px so that
 * traces of thousands of tasks stay one readable picture; details are in each bar's tooltip.
 */
import { escapeXml as esc, formatMs, percent, tickLabel, tickStep } from './format.ts';
import { timelineEnd, type Execution, type Timeline, type TimelineSummary } from './timeline.ts';

/** What colours a bar: its executor kind, or its category (trace task type, or step id). */
export type ColorBy = 'kind' | 'category';

/** Options of {@link renderSvg} and {@link renderHtml}. */
export type RenderOptions = { colorBy?: ColorBy; width?: number };

/** Colours of the executor kinds (Tableau 10), the same in every chart. */
export const KIND_COLORS: Readonly<Record<string, string>> = {
  function: '#4e79a7',
  process: '#f28e2b',
  simulate: '#59a14f',
  batch: '#b07aa1',
  container: '#76b7b2',
};
/** The outline and connector colour of the critical path; no palette colour is close to it. */
export const CRITICAL_COLOR = '#d62728';
const OTHER_COLOR = '#9c9c9c';
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#bab0ac', '#499894', '#8cd17d', '#a0cbe8', '#ffbe7d', '#d4a6c8', '#86bcb6', '#f1ce63'];
const LEGEND_MAX = 24;
// Average glyph widths of the sans-serif font at 11 px (labels) and 12 px (legend).
const CHAR_W = 6.4;
const LEGEND_CHAR_W = 7.2;

/** A piece of header text: its plain text (for its length) and its SVG markup. */
type Part = { text: string; html: string };

/** The parts joined by `sep`, in lines of at most `max` characters (a longer part gets a line of its own). */
function wrapParts(parts: readonly Part[], max: number, sep = '  ·  '): string[] {
  const lines: string[] = [];
  let html = '';
  let len = 0;
  for (const p of parts) {
    if (len > 0 && len + sep.length + p.text.length > max) {
      lines.push(html);
      html = '';
      len = 0;
    }
    html += len > 0 ? `${sep}${p.html}` : p.html;
    len += (len > 0 ? sep.length : 0) + p.text.length;
  }
  if (len > 0) lines.push(html);
  return lines;
}

/** The chart as a standalone SVG document. */
export function renderSvg(t: Timeline, s: TimelineSummary, options: RenderOptions = {}): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${chart(t, s, options)}\n`;
}

/** The chart in a self-contained HTML page (inline SVG and CSS). */
export function renderHtml(t: Timeline, s: TimelineSummary, options: RenderOptions = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(`timeline: ${t.title}`)}</title>
<style>body{margin:0;background:#fff}svg{display:block;max-width:100%;height:auto}</style>
</head>
<body>
${chart(t, s, options)}
</body>
</html>
`;
}

function label(e: Execution): string {
  return `${e.step}${e.item === undefined ? '' : `[${e.item}]`}${e.attempt > 1 ? ` #${e.attempt}` : ''}`;
}

/** Colour per key, in order of first appearance. */
function colours(t: Timeline, colorBy: ColorBy): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of t.executions) {
    const key = colorBy === 'kind' ? e.kind : e.category;
    if (out.has(key)) continue;
    out.set(key, colorBy === 'kind' ? (Object.hasOwn(KIND_COLORS, key) ? KIND_COLORS[key]! : OTHER_COLOR) : PALETTE[out.size % PALETTE.length]!);
  }
  return out;
}

function chart(t: Timeline, s: TimelineSummary, options: RenderOptions): string {
  const colorBy = options.colorBy ?? 'kind';
  const width = Math.max(480, Math.round(options.width ?? 1200));
  const n = t.executions.length;
  const rowH = n === 0 ? 18 : Math.max(2, Math.min(18, Math.floor(640 / n)));
  const labelled = rowH >= 10;
  const labelW = labelled ? Math.min(280, Math.max(80, Math.ceil(t.executions.reduce((m, e) => Math.max(m, label(e).length), 0) * CHAR_W) + 20)) : 64;
  // A label wider than its column (at most 280 px) is shortened from its start: its end tells
  // rows apart (the item, the attempt), and the bar's tip has it whole. Counted at the width of a
  // bold glyph (the critical path's labels), with room for the ellipsis.
  const labelChars = labelW < 280 ? Infinity : Math.floor((labelW - 12) / 7.2);
  const rowLabel = (e: Execution): string => {
    const text = [...label(e)];
    return text.length <= labelChars ? text.join('') : `…${text.slice(-(labelChars - 1)).join('')}`;
  };
  const left = labelW + 8;
  const right = 40;
  const plotW = width - left - right;
  const out: string[] = [];

  // Header: title, the three numbers, what the chart shows, caveats; wrapped to the width.
  const room = width - 32;
  let y = 26;
  const title = t.title.length > room / 9.5 ? `${t.title.slice(0, Math.max(1, Math.floor(room / 9.5) - 1))}…` : t.title;
  out.push(`<text class="title" x="16" y="${y}">${esc(title)}</text>`);
  const critical = `${s.criticalPath.length} execution${s.criticalPath.length === 1 ? '' : 's'}`;
  const metrics: Part[] = [
    { text: `makespan ${formatMs(s.makespanMs)}`, html: `makespan <tspan class="v">${esc(formatMs(s.makespanMs))}</tspan>` },
    { text: `critical path ${formatMs(s.criticalPathMs)} (${critical})`, html: `critical path <tspan class="v">${esc(formatMs(s.criticalPathMs))}</tspan> (${critical})` },
    { text: `overhead ${formatMs(s.overheadMs)} (${percent(s.overheadMs, s.makespanMs)} of makespan)`, html: `overhead <tspan class="v">${esc(formatMs(s.overheadMs))}</tspan> (${percent(s.overheadMs, s.makespanMs)} of makespan)` },
  ];
  y += 4;
  for (const line of wrapParts(metrics, room / 7.4)) {
    y += 18;
    out.push(`<text class="metrics" x="16" y="${y}">${line}</text>`);
  }
  const steps = new Set(t.executions.map((e) => e.step)).size;
  const facts = [
    `${n} execution${n === 1 ? '' : 's'} of ${steps} step${steps === 1 ? '' : 's'}, one row each, in start order`,
    t.schedule === 'measured' ? 'measured start and end times' : 'ideal schedule',
    ...(t.status === undefined ? [] : [`run ${t.status}`]),
    `colour: ${colorBy === 'kind' ? 'executor kind' : 'category'}`,
  ];
  for (const line of wrapParts(facts.map((f) => ({ text: f, html: esc(f) })), room / 6.8)) {
    y += 16;
    out.push(`<text class="info" x="16" y="${y}">${line}</text>`);
  }
  for (const note of t.notes) {
    const words = `note: ${note}`.split(' ').map((w) => ({ text: w, html: esc(w) }));
    for (const line of wrapParts(words, room / 6.8, ' ')) {
      y += 16;
      out.push(`<text class="info note" x="16" y="${y}">${line}</text>`);
    }
  }

  // Legend, wrapped to the width.
  y += 14;
  const palette = colours(t, colorBy);
  const items: Array<{ text: string; swatch: string }> = [];
  let shown = 0;
  for (const [key, colour] of palette) {
    if (shown++ === LEGEND_MAX) {
      items.push({ text: `+${palette.size - LEGEND_MAX} more`, swatch: '' });
      break;
    }
    items.push({ text: key.length > 48 ? `${key.slice(0, 47)}…` : key, swatch: `<rect x="0" y="0" width="12" height="12" fill="${colour}"/>` });
  }
  items.push({ text: 'critical path', swatch: `<rect class="crit-swatch" x="1" y="1" width="10" height="10" fill="#fff"/>` });
  items.push({ text: 'failed / cancelled attempt', swatch: `<rect class="failed" x="0" y="0" width="12" height="12" fill="${OTHER_COLOR}"/>` });
  let x = 16;
  let legendY = y;
  for (const item of items) {
    const w = (item.swatch ? 18 : 0) + item.text.length * LEGEND_CHAR_W + 18;
    if (x + w > width - 16 && x > 16) {
      x = 16;
      legendY += 18;
    }
    out.push(`<g class="legend" transform="translate(${x},${legendY})">${item.swatch}<text x="${item.swatch ? 18 : 0}" y="10">${esc(item.text)}</text></g>`);
    x += w;
  }

  // Time axis above the rows (and below them when the rows run long), with grid lines.
  const axisY = legendY + 52;
  const top = axisY + 6;
  const plotH = Math.max(rowH, n * rowH);
  const bottom = top + plotH;
  const origin = t.startedAt;
  const span = Math.max(timelineEnd(t) - origin, 1e-6);
  const X = (time: number) => left + ((time - origin) / span) * plotW;
  const step = tickStep(span, Math.max(2, Math.floor(plotW / 90)));
  const ticks: number[] = [];
  for (let v = 0; v <= span + step * 1e-9; v += step) ticks.push(v);
  const grid = ticks.map((v) => `<line class="grid" x1="${r(X(origin + v))}" y1="${top}" x2="${r(X(origin + v))}" y2="${bottom}"/>`);
  const axis = (ay: number, below: boolean) => [
    `<line class="axis" x1="${left}" y1="${ay}" x2="${left + plotW}" y2="${ay}"/>`,
    ...ticks.map((v) => `<text class="tick" x="${r(X(origin + v))}" y="${below ? ay + 14 : ay - 5}">${esc(tickLabel(v, step))}</text>`),
  ];
  out.push(`<text class="axis-title" x="${left}" y="${axisY - 24}">time since ${t.runId === undefined ? 'the first start' : 'the run started'}</text>`);
  out.push(...grid, ...axis(axisY, false));
  if (n > 40) out.push(...axis(bottom + 4, true));
  if (!labelled && n > 0) {
    // Row numbers instead of labels: rows are too thin for text.
    const every = tickStep(n, Math.max(2, Math.floor(plotH / 60)));
    for (let i = 0; i < n; i += every) out.push(`<text class="row-no" x="${left - 10}" y="${r(top + i * rowH + rowH)}">#${i + 1}</text>`);
  }

  // Bars, then the critical path on top of them.
  const barH = rowH >= 6 ? rowH - 2 : rowH >= 3 ? rowH - 1 : rowH;
  const onPath = new Set(s.criticalPath);
  const rowY = (i: number) => top + i * rowH + (rowH - barH) / 2;
  const bars = t.executions.map((e, i) => {
    const fill = palette.get(colorBy === 'kind' ? e.kind : e.category) ?? OTHER_COLOR;
    const cls = `bar ${e.status}${onPath.has(i) ? ' crit' : ''}`;
    const tip = `${label(e)} (attempt ${e.attempt}) · ${e.kind}${e.placement === undefined ? '' : ` on ${e.placement}`}${e.category !== e.step ? ` · ${e.category}` : ''} · ${e.status} · start +${formatMs(e.start - origin)} · took ${formatMs(e.end - e.start)}${e.initMs ? `, ${formatMs(e.initMs)} of it init` : ''}${onPath.has(i) ? ' · on the critical path' : ''}`;
    const textPart = labelled ? `<text class="label${onPath.has(i) ? ' crit-label' : ''}" x="${left - 8}" y="${r(top + i * rowH + rowH / 2 + 4)}">${esc(rowLabel(e))}</text>` : '';
    return `${textPart}<rect class="${cls}" x="${r(X(e.start))}" y="${r(rowY(i))}" width="${r(Math.max(1, X(e.end) - X(e.start)))}" height="${barH}" fill="${fill}"><title>${esc(tip)}</title></rect>`;
  });
  out.push(`<g class="bars">${bars.join('')}</g>`);
  if (s.criticalPath.length > 0) {
    const mid = (i: number) => r(rowY(i) + barH / 2);
    const marks = s.criticalPath.map((i) => `<rect class="crit-mark" x="${left - 5}" y="${r(rowY(i))}" width="3" height="${Math.max(2, barH)}"/>`);
    let d = '';
    for (let k = 1; k < s.criticalPath.length; k++) {
      const a = s.criticalPath[k - 1]!;
      const b = s.criticalPath[k]!;
      d += `M${r(X(t.executions[a]!.end))} ${mid(a)}L${r(X(t.executions[b]!.start))} ${mid(b)}`;
    }
    out.push(`<g class="critical">${marks.join('')}${d ? `<path class="crit-link" d="${d}"/>` : ''}</g>`);
  }
  if (n === 0) out.push(`<text class="info" x="${left}" y="${top + 14}">no executions recorded</text>`);

  const height = Math.ceil(bottom + (n > 40 ? 28 : 16));
  const crit = s.criticalPath.length;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-executions="${n}" data-critical="${crit}" data-makespan-ms="${s.makespanMs}" data-critical-path-ms="${s.criticalPathMs}" data-overhead-ms="${s.overheadMs}" role="img" aria-label="${esc(`Gantt chart of ${t.title}`)}">
<style>
text{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;fill:#222}
.title{font-size:16px;font-weight:600}.metrics{font-size:13px}.metrics .v{font-weight:600}
.info{font-size:12px;fill:#555}.note{fill:#8a5a00}.legend text{font-size:12px}
.axis{stroke:#444;stroke-width:1}.grid{stroke:#e6e6e6;stroke-width:1}.tick{font-size:11px;text-anchor:middle;fill:#444}
.axis-title{font-size:11px;fill:#666}.row-no{font-size:10px;text-anchor:end;fill:#777}
.label{font-size:${Math.min(11, rowH - 2)}px;text-anchor:end;fill:#333}.crit-label{fill:${CRITICAL_COLOR};font-weight:600}
.bar.failed{fill-opacity:.45}.bar.cancelled{fill-opacity:.3}.bar.running{fill-opacity:.7}.legend .failed{fill-opacity:.45}
.bar.crit{stroke:${CRITICAL_COLOR};stroke-width:${barH >= 4 ? 2 : 0}}.crit-swatch{stroke:${CRITICAL_COLOR};stroke-width:2}
.crit-mark{fill:${CRITICAL_COLOR}}.crit-link{fill:none;stroke:${CRITICAL_COLOR};stroke-width:1.5}
</style>
<rect width="100%" height="100%" fill="#fff"/>
${out.join('\n')}
</svg>`;
}

/** Coordinates to 0.01 px: enough for any screen, and short in a file of thousands of bars. */
function r(v: number): number {
  return Math.round(v * 100) / 100;
}
