/**
 * EventBridge event patterns: validation and matching. This is the subset the compiler emits —
 * exact values (strings, numbers, booleans, null), arrays as "any of", nested objects, `prefix`
 * and `exists` — built as an operator table so the full language can be added operator by
 * operator. Patterns are compiled once into closures; matching allocates nothing.
 */
import { JoinflowError } from '../model/errors.ts';
import type { EventPattern } from '../model/plan.ts';

/** A pattern that EventBridge would reject; `path` names the offending field. */
export class PatternError extends JoinflowError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('INVALID_PATTERN', `event pattern ${path ? `at ${path}` : ''}: ${message}`);
    this.path = path;
  }
}

/** Tests one event value (undefined when the field is absent). */
type ValueTest = (value: unknown, present: boolean) => boolean;
/** Compiles one `{ operator: argument }` matcher object into a test. */
type OperatorCompiler = (arg: unknown, path: string) => ValueTest;

/** EventBridge's documented limit on a pattern's JSON length. */
export const MAX_PATTERN_LENGTH = 2048;

const operators: Record<string, OperatorCompiler> = {
  prefix(arg, path) {
    if (typeof arg !== 'string') throw new PatternError(path, '"prefix" takes a string');
    return (v) => typeof v === 'string' && v.startsWith(arg);
  },
  exists(arg, path) {
    if (typeof arg !== 'boolean') throw new PatternError(path, '"exists" takes true or false');
    // EventBridge: exists matches leaf values only; an absent field matches exists:false.
    return (_v, present) => present === arg;
  },
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

function compileObject(pattern: unknown, path: string): (event: unknown) => boolean {
  if (typeof pattern !== 'object' || pattern === null || Array.isArray(pattern)) {
    throw new PatternError(path, 'must be an object whose leaves are arrays of match values');
  }
  const fields: Array<{ key: string; test: (node: unknown) => boolean }> = [];
  for (const [key, sub] of Object.entries(pattern)) {
    const here = path ? `${path}.${key}` : key;
    if (Array.isArray(sub)) {
      const test = compileLeaf(sub, here);
      fields.push({ key, test: (node) => testField(node, key, test) });
    } else {
      const inner = compileObject(sub, here);
      fields.push({
        key,
        test: (node) => isRecord(node) && Object.hasOwn(node, key) && inner(node[key]),
      });
    }
  }
  if (fields.length === 0) throw new PatternError(path, 'must not be empty');
  return (node) => {
    for (const f of fields) if (!f.test(node)) return false;
    return true;
  };
}

function testField(node: unknown, key: string, test: ValueTest): boolean {
  const present = isRecord(node) && Object.hasOwn(node, key);
  const value = present ? (node as Record<string, unknown>)[key] : undefined;
  // Arrays in events match when any element matches (EventBridge array semantics).
  if (Array.isArray(value)) {
    for (const v of value) if (test(v, true)) return true;
    return false;
  }
  return test(value, present);
}

/** A leaf: an array of alternatives — literals (fast path through a Set) or operator objects. */
function compileLeaf(alternatives: unknown[], path: string): ValueTest {
  if (alternatives.length === 0) throw new PatternError(path, 'an array of match values must not be empty');
  const literals = new Set<unknown>();
  const tests: ValueTest[] = [];
  alternatives.forEach((alt, i) => {
    const here = `${path}[${i}]`;
    if (alt === null || typeof alt === 'string' || typeof alt === 'number' || typeof alt === 'boolean') {
      literals.add(alt);
    } else if (typeof alt === 'object' && !Array.isArray(alt)) {
      const entries = Object.entries(alt);
      if (entries.length !== 1) throw new PatternError(here, 'a matcher object must have exactly one operator');
      const [op, arg] = entries[0]!;
      const compiler = operators[op];
      if (!compiler) throw new PatternError(here, `unknown operator "${op}"`);
      tests.push(compiler(arg, `${here}.${op}`));
    } else {
      throw new PatternError(here, 'match values must be strings, numbers, booleans, null or operator objects');
    }
  });
  if (tests.length === 0) return (v, present) => present && literals.has(v);
  return (v, present) => {
    if (present && literals.has(v)) return true;
    for (const t of tests) if (t(v, present)) return true;
    return false;
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
