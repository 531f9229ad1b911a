/**
 * The command line of a CWL CommandLineTool (CWL v1.2 "Input binding" rules, without
 * expressions): baseCommand, then every argument and bound input sorted by position. Pure.
 */
import type { CommandBinding, CwlBase, ToolSpec } from './spec.ts';

/** A File value as the runner hands it over: `path` is where the file is on this machine. */
export type FileValue = { class: 'File'; path: string };

/** The command-line pieces of one binding, with the sorting key CWL gives them. */
type Entry = { key: Array<number | string>; args: string[] };

/**
 * The argv of one tool run. `values` holds each input's resolved value (null or absent for a
 * missing optional input); inputs without a binding (theirs or their array items') do not
 * appear on the command line.
 */
export function buildCommandLine(tool: ToolSpec, values: Readonly<Record<string, unknown>>): string[] {
  const entries: Entry[] = [];
  tool.arguments.forEach((a, i) => {
    entries.push({ key: [a.position, i], args: withPrefix(a, a.value) });
  });
  for (const input of tool.inputs) {
    const items = input.type.itemBinding;
    const value = Object.hasOwn(values, input.id) ? values[input.id] : undefined;
    if (input.binding) {
      entries.push({ key: [input.binding.position, input.id], args: bindValue(value, input.binding, input.type.base, items) });
    } else if (items && input.type.depth > 0 && Array.isArray(value)) {
      // CWL collects nested bindings too: an array whose type binds its items is on the command
      // line even when the parameter has no inputBinding of its own. Each item is then a binding
      // of its own, keyed [its index, the item binding's position, the name] (the spec's "array
      // index following the position", where the parameter gives none; as cwltool does), so the
      // items interleave with other bindings by their index.
      value.forEach((item: unknown, n) => {
        entries.push({ key: [n, items.position, input.id], args: bindValue(item, items, input.type.base) });
      });
    }
  }
  // CWL sorts by [position, i] for arguments and [position, input name] for inputs; numbers sort
  // before strings, so at the same position arguments precede inputs.
  entries.sort((a, b) => compareKeys(a.key, b.key));
  return [...tool.baseCommand, ...entries.flatMap((e) => e.args)];
}

/** Element by element, numbers before strings; a key that is a prefix of the other ties (the sort is stable). */
function compareKeys(a: Array<number | string>, b: Array<number | string>): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** The arguments one value adds under its binding. */
function bindValue(value: unknown, binding: Omit<CommandBinding, 'position'>, base: CwlBase, itemBinding?: CommandBinding): string[] {
  if (value === null || value === undefined || value === false) return [];
  if (value === true) return binding.prefix === undefined ? [] : [binding.prefix];
  if (Array.isArray(value)) {
    // An empty array adds nothing, not even its prefix.
    if (value.length === 0) return [];
    if (binding.itemSeparator !== undefined) return withPrefix(binding, value.map((item: unknown) => scalarText(item, base)).join(binding.itemSeparator));
    const items = value.flatMap((item: unknown) => (itemBinding ? bindValue(item, itemBinding, base) : [scalarText(item, base)]));
    return binding.prefix === undefined ? items : [binding.prefix, ...items];
  }
  return withPrefix(binding, scalarText(value, base));
}

function withPrefix(binding: { prefix?: string; separate: boolean }, text: string): string[] {
  if (binding.prefix === undefined) return [text];
  return binding.separate ? [binding.prefix, text] : [binding.prefix + text];
}

/**
 * A scalar as one argument: a File by its path, a `float`/`double` as a float prints in the
 * reference runner (cwltool), strings and other numbers as they print.
 */
function scalarText(value: unknown, base: CwlBase): string {
  if (typeof value === 'object' && value !== null && (value as { class?: unknown }).class === 'File') {
    return String((value as FileValue).path);
  }
  if (typeof value === 'number' && (base === 'float' || base === 'double')) return floatText(value);
  return String(value);
}

/**
 * A float as Python's `str(float)` writes it, which is how cwltool puts a float input on the
 * command line: the shortest digits that read back as the same number, always with a decimal
 * point or an exponent (`2.0`, not `2`), in exponent form below 1e-4 and from 1e16 on, with at
 * least two exponent digits (`1e-05`, `1.5e+16`). JSON and YAML readers in JavaScript give `2.0`
 * and `2` as the same number, so an integer given to a float input is written `2.0` too.
 */
export function floatText(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // toExponential() without digits gives the shortest mantissa that reads back as x.
  const [mantissa = '', exp = '0'] = x.toExponential().split('e');
  const e = Number(exp);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const whole = digits.slice(0, e + 1).padEnd(e + 1, '0');
  const frac = digits.slice(e + 1);
  return `${sign}${whole}.${frac === '' ? '0' : frac}`;
}
