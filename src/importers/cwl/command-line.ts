/**
 * The command line of a CWL CommandLineTool (CWL v1.2 "Input binding" rules, without
 * expressions): baseCommand, then every argument and bound input sorted by position. Pure.
 */
import type { CommandBinding, ToolSpec } from './spec.ts';

/** A File value as the runner hands it over: `path` is where the file is on this machine. */
export type FileValue = { class: 'File'; path: string };

type Entry = { position: number; key: number | string; args: string[] };

/**
 * The argv of one tool run. `values` holds each input's resolved value (null or absent for a
 * missing optional input); inputs without a binding (theirs or their array items') do not
 * appear on the command line.
 */
export function buildCommandLine(tool: ToolSpec, values: Readonly<Record<string, unknown>>): string[] {
  const entries: Entry[] = [];
  tool.arguments.forEach((a, i) => {
    entries.push({ position: a.position, key: i, args: withPrefix(a, a.value) });
  });
  for (const input of tool.inputs) {
    // CWL collects nested bindings too: an array whose type binds its items is on the command
    // line even when the parameter has no inputBinding of its own (each item with its binding).
    const items = input.type.itemBinding;
    const binding = input.binding ?? (items && input.type.depth > 0 ? { position: items.position, separate: true } : undefined);
    if (!binding) continue;
    const value = values[input.id];
    entries.push({ position: binding.position, key: input.id, args: bindValue(value, binding, items) });
  }
  // CWL sorts by [position, i] for arguments and [position, input name] for inputs; at the same
  // position numeric keys come first, so arguments precede inputs.
  entries.sort((a, b) => a.position - b.position || compareKeys(a.key, b.key));
  return [...tool.baseCommand, ...entries.flatMap((e) => e.args)];
}

function compareKeys(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The arguments one value adds under its binding. */
function bindValue(value: unknown, binding: Omit<CommandBinding, 'position'>, itemBinding?: CommandBinding): string[] {
  if (value === null || value === undefined || value === false) return [];
  if (value === true) return binding.prefix === undefined ? [] : [binding.prefix];
  if (Array.isArray(value)) {
    // An empty array adds nothing, not even its prefix.
    if (value.length === 0) return [];
    if (binding.itemSeparator !== undefined) return withPrefix(binding, value.map(scalarText).join(binding.itemSeparator));
    const items = value.flatMap((item: unknown) => (itemBinding ? bindValue(item, itemBinding) : [scalarText(item)]));
    return binding.prefix === undefined ? items : [binding.prefix, ...items];
  }
  return withPrefix(binding, scalarText(value));
}

function withPrefix(binding: { prefix?: string; separate: boolean }, text: string): string[] {
  if (binding.prefix === undefined) return [text];
  return binding.separate ? [binding.prefix, text] : [binding.prefix + text];
}

/** A scalar as one argument: a File by its path, numbers and strings as they print. */
function scalarText(value: unknown): string {
  if (typeof value === 'object' && value !== null && (value as { class?: unknown }).class === 'File') {
    return String((value as FileValue).path);
  }
  return String(value);
}
