/** The intrinsic functions of ASL's JSONPath mode (`States.Format`, ...): what paths.ts calls once a call's arguments are evaluated. */
import { createHash, randomUUID } from 'node:crypto';
import { describe, StatesError } from './states-error.ts';

const arity = (name: string, args: unknown[], n: number) => {
  if (args.length !== n) throw new StatesError('States.IntrinsicFailure', `States.${name} takes ${n} argument${n === 1 ? '' : 's'}, not ${args.length}`);
};
const want = <T>(name: string, v: unknown, ok: (v: unknown) => v is T, what: string): T => {
  if (!ok(v)) throw new StatesError('States.IntrinsicFailure', `States.${name}: expected ${what}, got ${describe(v)}`);
  return v;
};
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);
const isArr = (v: unknown): v is unknown[] => Array.isArray(v);
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** JSON of a value with each object's fields in one order: equal JSON values, whatever the order their fields came in, give one text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

// Step Functions rounds a non-integer argument of MathRandom and MathAdd to the nearest integer; it
// does not say which way halves go: here Math.round's, towards +∞ (2.5 is 3, -2.5 is -2).
const rounded = (n: number): string => (Number.isInteger(n) ? `${n}` : `${n}, rounded to ${Math.round(n)}`);
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * A number in [0, 1) that depends only on `seed`: MathRandom with a seed gives one number every
 * time, as Step Functions documents. Its generator is not documented, so this one (the first 48
 * bits of the SHA-256 of the seed's JSON) gives other numbers than Step Functions does.
 */
function seeded(seed: number): number {
  return createHash('sha256').update(JSON.stringify(seed)).digest().readUIntBE(0, 6) / 2 ** 48;
}

const HASHES: Record<string, string> = { MD5: 'md5', 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/** The intrinsic functions of ASL's JSONPath mode, by name without `States.`. */
export const INTRINSICS: Record<string, (args: unknown[]) => unknown> = {
  Format(args) {
    const template = want('Format', args[0], isStr, 'a template string');
    let k = 1;
    const out = template.replace(/\\([{}\\'])|\{\}/g, (m, escaped: string | undefined) => {
      if (escaped !== undefined) return escaped;
      if (k >= args.length) throw new StatesError('States.IntrinsicFailure', 'States.Format: more {} than arguments');
      const v = args[k++];
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
    if (k !== args.length) throw new StatesError('States.IntrinsicFailure', 'States.Format: more arguments than {}');
    return out;
  },
  StringToJson(args) {
    arity('StringToJson', args, 1);
    try {
      return JSON.parse(want('StringToJson', args[0], isStr, 'a string')) as unknown;
    } catch (error) {
      if (error instanceof StatesError) throw error;
      throw new StatesError('States.IntrinsicFailure', `States.StringToJson: not JSON: ${(error as Error).message}`);
    }
  },
  JsonToString(args) {
    arity('JsonToString', args, 1);
    return JSON.stringify(args[0]);
  },
  Array: (args) => args,
  ArrayPartition(args) {
    arity('ArrayPartition', args, 2);
    const a = want('ArrayPartition', args[0], isArr, 'an array');
    const n = want('ArrayPartition', args[1], isInt, 'a chunk size');
    if (n < 1) throw new StatesError('States.IntrinsicFailure', 'States.ArrayPartition: the chunk size must be at least 1');
    const out: unknown[][] = [];
    for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
    return out;
  },
  ArrayContains(args) {
    arity('ArrayContains', args, 2);
    const want_ = canonical(args[1]);
    return want('ArrayContains', args[0], isArr, 'an array').some((x) => canonical(x) === want_);
  },
  ArrayRange(args) {
    arity('ArrayRange', args, 3);
    const [a, b, step] = args.map((v) => want('ArrayRange', v, isInt, 'whole numbers'));
    if (step === 0) throw new StatesError('States.IntrinsicFailure', 'States.ArrayRange: the step cannot be 0');
    const out: number[] = [];
    for (let x = a!; step! > 0 ? x <= b! : x >= b!; x += step!) {
      out.push(x);
      if (out.length > 1000) throw new StatesError('States.IntrinsicFailure', 'States.ArrayRange: more than 1,000 elements');
    }
    return out;
  },
  ArrayGetItem(args) {
    arity('ArrayGetItem', args, 2);
    const a = want('ArrayGetItem', args[0], isArr, 'an array');
    const i = want('ArrayGetItem', args[1], isInt, 'an index');
    if (i < 0 || i >= a.length) throw new StatesError('States.IntrinsicFailure', `States.ArrayGetItem: index ${i} is out of bounds (length ${a.length})`);
    return a[i];
  },
  ArrayLength(args) {
    arity('ArrayLength', args, 1);
    return want('ArrayLength', args[0], isArr, 'an array').length;
  },
  ArrayUnique(args) {
    arity('ArrayUnique', args, 1);
    const seen = new Set<string>();
    return want('ArrayUnique', args[0], isArr, 'an array').filter((x) => {
      const k = canonical(x);
      return seen.has(k) ? false : (seen.add(k), true);
    });
  },
  Base64Encode(args) {
    arity('Base64Encode', args, 1);
    return Buffer.from(want('Base64Encode', args[0], isStr, 'a string'), 'utf8').toString('base64');
  },
  Base64Decode(args) {
    arity('Base64Decode', args, 1);
    const text = want('Base64Decode', args[0], isStr, 'a base64 string');
    // Buffer.from skips what is not base64 without a word: the text is checked first.
    const base64 = /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 !== 1 && (!text.includes('=') || text.length % 4 === 0);
    if (!base64) throw new StatesError('States.IntrinsicFailure', `States.Base64Decode: ${describe(text)} is not base64`);
    return Buffer.from(text, 'base64').toString('utf8');
  },
  Hash(args) {
    arity('Hash', args, 2);
    const algorithm = want('Hash', args[1], isStr, 'an algorithm name');
    const node = HASHES[algorithm];
    if (node === undefined) throw new StatesError('States.IntrinsicFailure', `States.Hash: unknown algorithm "${algorithm}" (${Object.keys(HASHES).join(', ')})`);
    const v = args[0];
    return createHash(node).update(typeof v === 'string' ? v : JSON.stringify(v)).digest('hex');
  },
  JsonMerge(args) {
    arity('JsonMerge', args, 3);
    if (args[2] !== false) throw new StatesError('States.IntrinsicFailure', 'States.JsonMerge: only a shallow merge (false) is supported, as in Step Functions');
    return { ...want('JsonMerge', args[0], isObj, 'an object'), ...want('JsonMerge', args[1], isObj, 'an object') };
  },
  MathRandom(args) {
    if (args.length < 2 || args.length > 3) throw new StatesError('States.IntrinsicFailure', 'States.MathRandom takes 2 or 3 arguments');
    const start = want('MathRandom', args[0], isNum, 'a number');
    const end = want('MathRandom', args[1], isNum, 'a number');
    const [lo, hi] = [Math.round(start), Math.round(end)];
    // From start (inclusive) to end (exclusive), as Step Functions documents it: no number is both when start >= end.
    if (lo >= hi) throw new StatesError('States.IntrinsicFailure', `States.MathRandom: the start (${rounded(start)}) must be less than the end (${rounded(end)}), which is excluded`);
    const u = args.length === 3 ? seeded(want('MathRandom', args[2], isNum, 'a seed number')) : Math.random();
    return lo + Math.floor(u * (hi - lo));
  },
  MathAdd(args) {
    arity('MathAdd', args, 2);
    const [a, b] = args.map((v) => {
      const n = Math.round(want('MathAdd', v, isNum, 'a number'));
      if (n < INT32_MIN || n > INT32_MAX) throw new StatesError('States.IntrinsicFailure', `States.MathAdd: ${rounded(v as number)} is outside the integers it takes, ${INT32_MIN} to ${INT32_MAX}`);
      return n;
    });
    return a! + b!;
  },
  StringSplit(args) {
    arity('StringSplit', args, 2);
    const s = want('StringSplit', args[0], isStr, 'a string');
    const chars = [...want('StringSplit', args[1], isStr, 'delimiter characters')];
    const out: string[] = [];
    let cur = '';
    for (const ch of s) {
      if (chars.includes(ch)) {
        if (cur !== '') out.push(cur);
        cur = '';
      } else cur += ch;
    }
    if (cur !== '') out.push(cur);
    return out;
  },
  UUID(args) {
    arity('UUID', args, 0);
    return randomUUID();
  },
};
