/**
 * EventBridge event patterns (the event-bus language): validation and matching.
 *
 * Supported: exact values (strings, numbers — compared numerically —, booleans, null, ""),
 * arrays as "any of", nested objects, `$or` at any object level, and the operators `prefix`,
 * `suffix` (each also with `{equals-ignore-case: s}`), `equals-ignore-case`, `anything-but`
 * (value, list of strings or of numbers, `{prefix}`, `{suffix}`, `{equals-ignore-case}`,
 * `{wildcard}`), `numeric`, `exists`, `wildcard` and `cidr` (IPv4 and IPv6).
 *
 * Matching follows EventBridge: an event array matches when any element matches; operators test
 * leaf values only (an object-valued field counts as absent for `exists` and `anything-but`);
 * `anything-but` never matches an absent field; `exists: false` matches when no leaf value sits at
 * the path (including when a parent is absent).
 *
 * Patterns are compiled once into closures; matching allocates nothing on the hot paths.
 */
import { BlockList, isIP } from 'node:net';
import { JoinflowError } from './errors.ts';
import type { EventPattern } from './plan.ts';

/** A pattern that EventBridge would reject; `path` names the offending field. */
export class PatternError extends JoinflowError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('INVALID_PATTERN', `event pattern${path ? ` at ${path}` : ' (top level)'}: ${message}`);
    this.path = path;
  }
}

/** Tests one leaf value (undefined with present=false when the field has no leaf value). */
type ValueTest = (value: unknown, present: boolean) => boolean;
/** Compiles the argument of one `{ operator: argument }` matcher object into a test. */
type OperatorCompiler = (arg: unknown, path: string) => ValueTest;
type NodeTest = (node: unknown) => boolean;

/** EventBridge's documented limit on a pattern's JSON length. */
export const MAX_PATTERN_LENGTH = 2048;
/** EventBridge's documented range for numeric matching. */
const NUMERIC_LIMIT = 5e9;

const isString = (v: unknown): v is string => typeof v === 'string';

function stringArg(arg: unknown, path: string, what: string, allowEmpty = true): string {
  if (typeof arg !== 'string') throw new PatternError(path, `${what} takes a string`);
  if (!allowEmpty && arg === '') throw new PatternError(path, `${what} takes a non-empty string`);
  return arg;
}

/** `prefix`/`suffix` argument: a string or `{ "equals-ignore-case": string }`. */
function affixTest(arg: unknown, path: string, op: 'prefix' | 'suffix', allowEmpty: boolean): (s: string) => boolean {
  if (typeof arg === 'object' && arg !== null && !Array.isArray(arg)) {
    const entries = Object.entries(arg);
    if (entries.length !== 1 || entries[0]![0] !== 'equals-ignore-case') {
      throw new PatternError(path, `"${op}" takes a string or {"equals-ignore-case": string}`);
    }
    const s = stringArg(entries[0]![1], `${path}.equals-ignore-case`, '"equals-ignore-case"', allowEmpty).toLowerCase();
    return op === 'prefix' ? (v) => v.toLowerCase().startsWith(s) : (v) => v.toLowerCase().endsWith(s);
  }
  const s = stringArg(arg, path, `"${op}"`, allowEmpty);
  return op === 'prefix' ? (v) => v.startsWith(s) : (v) => v.endsWith(s);
}

/** Compiles a wildcard (`*` = any run of characters, `\*` = a literal star, `\\` = a backslash). */
function wildcardRegExp(arg: unknown, path: string): RegExp {
  const s = stringArg(arg, path, '"wildcard"');
  let src = '';
  let lastStar = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      const next = s[i + 1];
      if (next !== '*' && next !== '\\') {
        throw new PatternError(path, `"wildcard": a backslash must escape "*" or "\\" (at character ${i})`);
      }
      src += `\\${next}`;
      i++;
      lastStar = false;
    } else if (c === '*') {
      if (lastStar) throw new PatternError(path, '"wildcard" must not contain consecutive "*" characters');
      src += '[\\s\\S]*';
      lastStar = true;
    } else {
      src += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      lastStar = false;
    }
  }
  return new RegExp(`^${src}$`, 'u');
}

function wildcardTest(arg: unknown, path: string): (s: string) => boolean {
  const re = wildcardRegExp(arg, path);
  return (v) => re.test(v);
}

function stringOrStrings(arg: unknown, path: string, what: string): string[] {
  if (Array.isArray(arg)) {
    if (arg.length === 0) throw new PatternError(path, `${what} list must not be empty`);
    arg.forEach((s, i) => stringArg(s, `${path}[${i}]`, what));
    return arg as string[];
  }
  return [stringArg(arg, path, what)];
}

const numericNumber = (v: unknown, path: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new PatternError(path, '"numeric" bounds must be numbers');
  if (v < -NUMERIC_LIMIT || v > NUMERIC_LIMIT) {
    throw new PatternError(path, `"numeric" values must be between -5.0e9 and 5.0e9 (got ${v})`);
  }
  return v;
};

function compileNumeric(arg: unknown, path: string): ValueTest {
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) {
    throw new PatternError(path, '"numeric" takes ["op", n] or [">"|">=", n, "<"|"<=", m]');
  }
  const op1 = arg[0];
  const n1 = numericNumber(arg[1], `${path}[1]`);
  if (arg.length === 2) {
    switch (op1) {
      case '=': return (v) => typeof v === 'number' && v === n1;
      case '<': return (v) => typeof v === 'number' && v < n1;
      case '<=': return (v) => typeof v === 'number' && v <= n1;
      case '>': return (v) => typeof v === 'number' && v > n1;
      case '>=': return (v) => typeof v === 'number' && v >= n1;
      default: throw new PatternError(`${path}[0]`, `"numeric": unknown operator ${JSON.stringify(op1)}`);
    }
  }
  if (op1 !== '>' && op1 !== '>=') {
    throw new PatternError(`${path}[0]`, `"numeric": a range must start with ">" or ">=", not ${JSON.stringify(op1)}`);
  }
  const op2 = arg[2];
  if (op2 !== '<' && op2 !== '<=') {
    throw new PatternError(`${path}[2]`, `"numeric": a range must end with "<" or "<=", not ${JSON.stringify(op2)}`);
  }
  const n2 = numericNumber(arg[3], `${path}[3]`);
  if (!(n1 < n2)) throw new PatternError(path, `"numeric": the lower bound ${n1} must be below the upper bound ${n2}`);
  const loInc = op1 === '>=';
  const hiInc = op2 === '<=';
  return (v) =>
    typeof v === 'number' && (loInc ? v >= n1 : v > n1) && (hiInc ? v <= n2 : v < n2);
}

function compileCidr(arg: unknown, path: string): ValueTest {
  const s = stringArg(arg, path, '"cidr"');
  const slash = s.indexOf('/');
  if (slash < 0 || slash !== s.lastIndexOf('/')) throw new PatternError(path, `"cidr": "${s}" must be ADDRESS/PREFIX`);
  const address = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const family = isIP(address);
  if (family === 0) throw new PatternError(path, `"cidr": "${address}" is not an IPv4 or IPv6 address`);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
    throw new PatternError(path, `"cidr": prefix length "${bits}" must be 0..${max}`);
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  list.addSubnet(address, Number(bits), type);
  return (v) => typeof v === 'string' && isIP(v) === family && list.check(v, type);
}

function compileAnythingBut(arg: unknown, path: string): ValueTest {
  let excluded: (v: unknown) => boolean;
  if (typeof arg === 'string' || typeof arg === 'number') {
    if (typeof arg === 'number' && !Number.isFinite(arg)) throw new PatternError(path, '"anything-but" numbers must be finite');
    excluded = (v) => v === arg;
  } else if (Array.isArray(arg)) {
    if (arg.length === 0) throw new PatternError(path, '"anything-but" list must not be empty');
    const kind = typeof arg[0];
    arg.forEach((x, i) => {
      if ((typeof x !== 'string' && typeof x !== 'number') || typeof x !== kind) {
        throw new PatternError(`${path}[${i}]`, '"anything-but" list must hold only strings or only numbers');
      }
    });
    const set = new Set<unknown>(arg);
    excluded = (v) => set.has(v);
  } else if (typeof arg === 'object' && arg !== null) {
    const entries = Object.entries(arg);
    if (entries.length !== 1) throw new PatternError(path, '"anything-but" object must have exactly one operator');
    const [op, inner] = entries[0]!;
    const here = `${path}.${op}`;
    let stringTest: (s: string) => boolean;
    switch (op) {
      case 'prefix':
        stringTest = affixTest(inner, here, 'prefix', false);
        break;
      case 'suffix':
        stringTest = affixTest(inner, here, 'suffix', false);
        break;
      case 'equals-ignore-case': {
        const set = new Set(stringOrStrings(inner, here, '"equals-ignore-case"').map((s) => s.toLowerCase()));
        stringTest = (s) => set.has(s.toLowerCase());
        break;
      }
      case 'wildcard': {
        const tests = stringOrStrings(inner, here, '"wildcard"').map((w, i) =>
          wildcardTest(w, Array.isArray(inner) ? `${here}[${i}]` : here),
        );
        stringTest = (s) => tests.some((t) => t(s));
        break;
      }
      default:
        throw new PatternError(path, `"anything-but" does not support "${op}"`);
    }
    excluded = (v) => typeof v === 'string' && stringTest(v);
  } else {
    throw new PatternError(path, '"anything-but" takes a string, a number, a list of either, or an operator object');
  }
  // Never matches an absent field.
  return (v, present) => present && !excluded(v);
}

const operators: Record<string, OperatorCompiler> = {
  prefix(arg, path) {
    const t = affixTest(arg, path, 'prefix', true);
    return (v) => typeof v === 'string' && t(v);
  },
  suffix(arg, path) {
    const t = affixTest(arg, path, 'suffix', true);
    return (v) => typeof v === 'string' && t(v);
  },
  'equals-ignore-case'(arg, path) {
    const s = stringArg(arg, path, '"equals-ignore-case"').toLowerCase();
    return (v) => typeof v === 'string' && v.toLowerCase() === s;
  },
  'anything-but': compileAnythingBut,
  numeric: compileNumeric,
  exists(arg, path) {
    if (typeof arg !== 'boolean') throw new PatternError(path, '"exists" takes true or false');
    // EventBridge: exists matches leaf values only; no leaf value at the path matches exists:false.
    return (_v, present) => present === arg;
  },
  wildcard(arg, path) {
    const t = wildcardTest(arg, path);
    return (v) => isString(v) && t(v);
  },
  cidr: compileCidr,
};

/**
 * Compiles a pattern into a predicate over whole events; throws PatternError when invalid.
 * `maxLength` enforces EventBridge's size limit (for user patterns; compiled plans may exceed it
 * locally, and the AWS deployment groups such rules).
 */
export function compilePattern(
  pattern: EventPattern,
  options: { maxLength?: number } = {},
): (event: unknown) => boolean {
  if (options.maxLength !== undefined) {
    const length = JSON.stringify(pattern).length;
    if (length > options.maxLength) {
      throw new PatternError('', `is ${length} characters; the limit is ${options.maxLength}`);
    }
  }
  return compileObject(pattern, '');
}

/** Compiles `pattern` and tests one event (convenience; prefer compiling once for many events). */
export function patternMatches(pattern: EventPattern, event: unknown): boolean {
  return compilePattern(pattern)(event);
}

function compileObject(pattern: unknown, path: string): NodeTest {
  if (typeof pattern !== 'object' || pattern === null || Array.isArray(pattern)) {
    throw new PatternError(path, 'must be an object whose leaves are arrays of match values');
  }
  const tests: NodeTest[] = [];
  for (const [key, sub] of Object.entries(pattern)) {
    const here = path ? `${path}.${key}` : key;
    if (key === '$or') {
      tests.push(compileOr(sub, here));
    } else if (Array.isArray(sub)) {
      tests.push(leafField(key, compileLeaf(sub, here)));
    } else {
      tests.push(objectField(key, compileObject(sub, here)));
    }
  }
  if (tests.length === 0) throw new PatternError(path, 'must not be empty');
  if (tests.length === 1) return tests[0]!;
  return (node) => {
    for (const t of tests) if (!t(node)) return false;
    return true;
  };
}

function compileOr(sub: unknown, path: string): NodeTest {
  if (!Array.isArray(sub) || sub.length < 2) {
    throw new PatternError(path, '"$or" takes an array of at least two sub-patterns');
  }
  const alternatives = sub.map((alt, i) => compileObject(alt, `${path}[${i}]`));
  return (node) => {
    for (const a of alternatives) if (a(node)) return true;
    return false;
  };
}

const NO_LEAF = 0;
const LEAF_NO_MATCH = 1;
const MATCHED = 2;

/** Walks an event array (flattening nested arrays, skipping objects, which are not leaves). */
function testArray(values: unknown[], test: ValueTest): number {
  let result = NO_LEAF;
  for (const v of values) {
    if (Array.isArray(v)) {
      const r = testArray(v, test);
      if (r === MATCHED) return MATCHED;
      if (r === LEAF_NO_MATCH) result = LEAF_NO_MATCH;
    } else if (!isRecord(v)) {
      if (test(v, true)) return MATCHED;
      result = LEAF_NO_MATCH;
    }
  }
  return result;
}

function leafField(key: string, test: ValueTest): NodeTest {
  return (node) => {
    if (!isRecord(node) || !Object.hasOwn(node, key)) return test(undefined, false);
    const value = node[key];
    // Arrays in events match when any element matches (EventBridge array semantics).
    if (Array.isArray(value)) {
      const r = testArray(value, test);
      return r === MATCHED || (r === NO_LEAF && test(undefined, false));
    }
    if (isRecord(value)) return test(undefined, false);
    return test(value, true);
  };
}

function someRecord(values: unknown[], inner: NodeTest): number {
  let result = NO_LEAF;
  for (const v of values) {
    if (Array.isArray(v)) {
      const r = someRecord(v, inner);
      if (r === MATCHED) return MATCHED;
      if (r === LEAF_NO_MATCH) result = LEAF_NO_MATCH;
    } else if (isRecord(v)) {
      if (inner(v)) return MATCHED;
      result = LEAF_NO_MATCH;
    }
  }
  return result;
}

function objectField(key: string, inner: NodeTest): NodeTest {
  return (node) => {
    const value = isRecord(node) && Object.hasOwn(node, key) ? node[key] : undefined;
    if (Array.isArray(value)) {
      // An array of objects matches when one element matches the whole sub-pattern.
      const r = someRecord(value, inner);
      return r === MATCHED || (r === NO_LEAF && inner(undefined));
    }
    return inner(value);
  };
}

/** A leaf: an array of alternatives — literals (fast path through a Set) or operator objects. */
function compileLeaf(alternatives: unknown[], path: string): ValueTest {
  if (alternatives.length === 0) throw new PatternError(path, 'an array of match values must not be empty');
  const literals = new Set<unknown>();
  const tests: ValueTest[] = [];
  alternatives.forEach((alt, i) => {
    const here = `${path}[${i}]`;
    if (alt === null || typeof alt === 'string' || typeof alt === 'boolean') {
      literals.add(alt);
    } else if (typeof alt === 'number') {
      if (!Number.isFinite(alt)) throw new PatternError(here, 'numbers must be finite');
      literals.add(alt);
    } else if (typeof alt === 'object' && !Array.isArray(alt)) {
      const entries = Object.entries(alt);
      if (entries.length !== 1) throw new PatternError(here, 'a matcher object must have exactly one operator');
      const [op, arg] = entries[0]!;
      const compiler = Object.hasOwn(operators, op) ? operators[op] : undefined;
      if (!compiler) throw new PatternError(here, `unknown operator "${op}"`);
      tests.push(compiler(arg, `${here}.${op}`));
    } else {
      throw new PatternError(here, 'match values must be strings, numbers, booleans, null or operator objects');
    }
  });
  if (tests.length === 0) return (v, present) => present && literals.has(v);
  if (literals.size === 0 && tests.length === 1) return tests[0]!;
  return (v, present) => {
    if (present && literals.has(v)) return true;
    for (const t of tests) if (t(v, present)) return true;
    return false;
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
