/**
 * CWL File formats: the `format` of a parameter (the formats an input takes, the format an output
 * file has) and of a File value, as IRIs. A prefixed name (`edam:format_1929`) is expanded by the
 * document's `$namespaces`, as schema salad reads it. Formats are compared exactly: the ontology
 * of `$schemas` (subclasses, equivalent classes) is not read, which CWL allows when no ontology
 * is available.
 */
import type { DocPath } from './source.ts';
import { expressionString, isObject, kindOf, type Ctx } from './fields.ts';
import type { CwlType } from './spec.ts';

/** The `$namespaces` of a document: prefix -> IRI (entries that are not strings are left out). */
export function namespacesOf(doc: unknown): Record<string, string> {
  const raw = isObject(doc) ? doc['$namespaces'] : undefined;
  if (!isObject(raw)) return {};
  return Object.fromEntries(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** `edam:format_1929` as the IRI `namespaces` make it (`http://edamontology.org/format_1929`); other strings as they are. */
export function expandIri(value: string, namespaces: Readonly<Record<string, string>>): string {
  const colon = value.indexOf(':');
  if (colon <= 0) return value;
  const prefix = value.slice(0, colon);
  return Object.hasOwn(namespaces, prefix) ? namespaces[prefix] + value.slice(colon + 1) : value;
}

/**
 * The `format` of an input parameter: one IRI or a list of them, expanded. Only for `File` and
 * `File[]` types, and never an expression (refused with its place).
 */
export function readInputFormat(ctx: Ctx, path: DocPath, raw: unknown, type: CwlType): string[] | undefined {
  if (raw === undefined) return undefined;
  if (type.base !== 'File') {
    ctx.problems.add(ctx.src.at(path, true), `format applies to File and File[] parameters only, not to ${type.base}`);
    return undefined;
  }
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list) || list.length === 0) {
    ctx.problems.add(ctx.src.at(path), `format must be a format IRI or a non-empty list of them, got ${kindOf(raw)}`);
    return undefined;
  }
  const namespaces = namespacesOf(ctx.src.value);
  const formats = list.flatMap((f: unknown, i) => {
    const text = expressionString(ctx, typeof raw === 'string' ? path : [...path, i], f, 'format');
    return text === undefined ? [] : [expandIri(text, namespaces)];
  });
  return formats.length === list.length ? formats : undefined;
}

/** The `format` of an output parameter: the IRI its files get. */
export function readOutputFormat(ctx: Ctx, path: DocPath, raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  const text = expressionString(ctx, path, raw, 'format');
  return text === undefined ? undefined : expandIri(text, namespacesOf(ctx.src.value));
}

/**
 * Why a File with format `actual` does not fit a parameter that takes `expected`, or undefined
 * when it does: a File without a format fits (CWL checks the two when both are given).
 */
export function formatMismatch(actual: unknown, expected: readonly string[] | undefined): string | undefined {
  if (expected === undefined || actual === undefined || actual === null) return undefined;
  if (typeof actual !== 'string') return `its format must be an IRI (a string), got ${kindOf(actual)}`;
  if (expected.includes(actual)) return undefined;
  return `its format ${actual} is not ${expected.length === 1 ? expected[0] : `one of ${expected.join(', ')}`}, which the parameter takes (formats are compared exactly: the ontology of $schemas is not read)`;
}

/**
 * The formats of `given` (those a source's Files can have) that a parameter taking `taken` does
 * not take, compared exactly; none when either side declares no format (anything fits then).
 */
export function formatsNotTaken(given: readonly string[] | undefined, taken: readonly string[] | undefined): string[] {
  if (given === undefined || taken === undefined) return [];
  return given.filter((f) => !taken.includes(f));
}
