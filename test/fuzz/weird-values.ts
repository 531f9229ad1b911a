/** Hostile values shared by the fuzz generators: huge and odd strings, odd numbers, deep nesting. */
import type { Random } from './random.ts';

/** 1 MiB of text; built once (the generators reuse the same string). */
export const HUGE = 'x'.repeat(1 << 20);

/** Levels of nesting the "deep" values have. */
export const DEEP_LEVELS = 10_000;

/** Emoji, RTL text and overrides, NUL bytes, lone surrogates, combining marks, BOM, zero-width joiners. */
export const UNICODE = [
  '🚀',
  'nodeA🚀',
  'שלום',
  'مرحبا',
  'a\u202Eevil',
  'a\u0000b',
  '\u0000',
  '\uD800',
  'x\uDC00y',
  'e\u0301',
  '\uFEFFname',
  'a\u200Db',
  '𝕏𝕐',
  'Ωmega',
  '\n',
  ' ',
] as const;

/** Keys that reach an object's prototype machinery when used as plain property names. */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__'] as const;

export const WEIRD_NUMBERS = [
  NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  Number.MIN_VALUE,
  -1,
  1.5,
  2 ** 31,
] as const;

/** An object or array nested `levels` deep, built without recursion. */
export function deep(levels: number, kind: 'object' | 'array', leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < levels; i++) v = kind === 'object' ? { k: v } : [v];
  return v;
}

/** Some 200-character strings: the longest valid step id, and one character too many. */
export const ID_200 = `a${'b'.repeat(199)}`;
export const ID_201 = `a${'b'.repeat(200)}`;

/** A weird string: huge, unicode, prototype keys, empty, or almost valid. */
export function weirdString(rng: Random, allowHuge = true): string {
  return rng.weighted<() => string>([
    [allowHuge ? 1 : 0, () => HUGE],
    [6, () => rng.pick(UNICODE)],
    [3, () => rng.pick(PROTO_KEYS)],
    [2, () => ''],
    [2, () => rng.pick([ID_200, ID_201, '-lead', '.dot', ':colon', '$succeed', '$collect:a', 'a b', 'a/b', 'A'.repeat(65)])],
    [1, () => `s${rng.int(1000)}`],
  ])();
}

/** Options of weirdValue: `json` keeps to values a JSON or YAML file can hold. */
export type WeirdOptions = { json?: boolean; allowHuge?: boolean; allowDeep?: boolean };

/**
 * A value of a random, usually wrong, type: null, booleans, odd numbers, strings, arrays, objects,
 * deep nesting; and, for JS objects only, undefined, symbols, bigints, functions, Dates, Maps and
 * cycles.
 */
export function weirdValue(rng: Random, options: WeirdOptions = {}): unknown {
  const { json = false, allowHuge = true, allowDeep = true } = options;
  const jsOnly = json ? 0 : 1;
  return rng.weighted<() => unknown>([
    [3, () => null],
    [2, () => rng.chance(0.5)],
    [5, () => rng.pick(WEIRD_NUMBERS)],
    [6, () => weirdString(rng, allowHuge)],
    [2, () => []],
    [2, () => ({})],
    [2, () => [rng.pick(UNICODE), 1, null]],
    [2, () => ({ polluted: true, [rng.pick(PROTO_KEYS)]: 'x' })],
    [allowDeep ? 1 : 0, () => deep(DEEP_LEVELS, rng.chance(0.5) ? 'object' : 'array')],
    [jsOnly * 2, () => undefined],
    [jsOnly, () => Symbol('weird')],
    [jsOnly, () => 10n ** 30n],
    [jsOnly, () => () => 'fn'],
    [jsOnly, () => new Date(0)],
    [jsOnly, () => new Map([['a', 1]])],
    [jsOnly, () => cyclic()],
  ])();
}

function cyclic(): unknown {
  const a: Record<string, unknown> = { name: 'loop' };
  a['self'] = { back: a };
  return a;
}

/** Sets an own property, even `__proto__` (plain assignment would replace the prototype instead). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
