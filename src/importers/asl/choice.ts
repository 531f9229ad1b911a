/** ASL Choice rules: checked when a machine is imported, evaluated when its Choice state runs. */
import type { Problem } from '../../model/errors.ts';
import { getPath, hasPath, pathProblem } from './paths.ts';
import { compareTimestamps, parseTimestamp } from './timestamps.ts';

type Kind = 'string' | 'numeric' | 'boolean' | 'timestamp' | 'test';
const COMPARATORS: Record<string, Kind> = {};
for (const [prefix, kind] of [['String', 'string'], ['Numeric', 'numeric'], ['Timestamp', 'timestamp']] as const) {
  for (const op of ['Equals', 'LessThan', 'GreaterThan', 'LessThanEquals', 'GreaterThanEquals']) {
    COMPARATORS[`${prefix}${op}`] = kind;
    COMPARATORS[`${prefix}${op}Path`] = kind;
  }
}
COMPARATORS['StringMatches'] = 'string';
COMPARATORS['BooleanEquals'] = 'boolean';
COMPARATORS['BooleanEqualsPath'] = 'boolean';
for (const t of ['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp']) COMPARATORS[t] = 'test';

/** Problems of one rule (`top`: a rule of Choices, which must have Next). */
export function ruleProblems(rule: unknown, at: string, top: boolean): Problem[] {
  if (rule === null || typeof rule !== 'object' || Array.isArray(rule)) return [{ path: at, message: 'a choice rule must be an object' }];
  const r = rule as Record<string, unknown>;
  const out: Problem[] = [];
  const known = new Set(['Variable', 'And', 'Or', 'Not', 'Comment', ...(top ? ['Next'] : []), ...Object.keys(COMPARATORS)]);
  for (const k of Object.keys(r)) {
    if (k === 'Next' && !top) out.push({ path: `${at}.Next`, message: 'only the rules listed in Choices have Next, not the rules inside And, Or or Not' });
    else if (k === 'Condition' || k === 'Assign') out.push({ path: `${at}.${k}`, message: `${k} belongs to JSONata or variables, which joinflow does not import: write the rule with Variable and a comparison` });
    else if (!known.has(k)) out.push({ path: `${at}.${k}`, message: `"${k}" is not a choice-rule field (comparisons: ${Object.keys(COMPARATORS).filter((c) => !c.endsWith('Path')).slice(0, 6).join(', ')}, ...)` });
  }
  if (top && typeof r['Next'] !== 'string') out.push({ path: `${at}.Next`, message: 'is required: the state to go to when the rule matches' });
  const ops = ['And', 'Or', 'Not'].filter((k) => k in r);
  const comps = Object.keys(r).filter((k) => Object.hasOwn(COMPARATORS, k));
  if (ops.length + comps.length !== 1) {
    out.push({ path: at, message: `a rule needs exactly one of And, Or, Not or a comparison; it has ${ops.length + comps.length === 0 ? 'none' : [...ops, ...comps].join(', ')}` });
    return out;
  }
  if (ops[0] === 'Not') return [...out, ...ruleProblems(r['Not'], `${at}.Not`, false)];
  if (ops[0] !== undefined) {
    const list = r[ops[0]];
    if (!Array.isArray(list) || list.length === 0) return [...out, { path: `${at}.${ops[0]}`, message: 'must be a non-empty array of rules' }];
    return [...out, ...list.flatMap((x, i) => ruleProblems(x, `${at}.${ops[0]}[${i}]`, false))];
  }
  const op = comps[0]!;
  const variable = pathProblem(r['Variable']);
  if (variable) out.push({ path: `${at}.Variable`, message: variable });
  const value = r[op];
  const kind = COMPARATORS[op]!;
  if (op.endsWith('Path')) {
    const p = pathProblem(value);
    if (p) out.push({ path: `${at}.${op}`, message: p });
  } else if (kind === 'test' || kind === 'boolean') {
    if (typeof value !== 'boolean') out.push({ path: `${at}.${op}`, message: 'must be true or false' });
  } else if (kind === 'numeric') {
    if (typeof value !== 'number') out.push({ path: `${at}.${op}`, message: 'must be a number' });
  } else if (typeof value !== 'string') {
    out.push({ path: `${at}.${op}`, message: 'must be a string' });
  } else if (kind === 'timestamp' && parseTimestamp(value) === undefined) {
    out.push({ path: `${at}.${op}`, message: 'must be an RFC 3339 timestamp such as 2026-01-01T00:00:00Z' });
  }
  return out;
}

/** Whether `rule` matches `data` (`context` for `$$` paths). Values of another type than the comparison's do not match. */
export function matches(rule: Record<string, unknown>, data: unknown, context: unknown): boolean {
  if ('And' in rule) return (rule['And'] as Record<string, unknown>[]).every((r) => matches(r, data, context));
  if ('Or' in rule) return (rule['Or'] as Record<string, unknown>[]).some((r) => matches(r, data, context));
  if ('Not' in rule) return !matches(rule['Not'] as Record<string, unknown>, data, context);
  const op = Object.keys(rule).find((k) => Object.hasOwn(COMPARATORS, k))!;
  const variable = rule['Variable'] as string;
  if (op === 'IsPresent') return hasPath(variable, data, context) === rule[op];
  if (!hasPath(variable, data, context)) {
    // A missing variable fails every comparison in Step Functions (States.Runtime); the type tests say false.
    if (COMPARATORS[op] === 'test') return rule[op] === false;
    getPath(variable, data, context);
  }
  const v = getPath(variable, data, context);
  const kind = COMPARATORS[op]!;
  if (kind === 'test') {
    const is = op === 'IsNull' ? v === null : op === 'IsNumeric' ? typeof v === 'number' : op === 'IsString' ? typeof v === 'string'
      : op === 'IsBoolean' ? typeof v === 'boolean' : typeof v === 'string' && parseTimestamp(v) !== undefined;
    return is === rule[op];
  }
  const other = op.endsWith('Path') ? getPath(rule[op] as string, data, context) : rule[op];
  const base = op.replace(/^(String|Numeric|Boolean|Timestamp)/, '').replace(/Path$/, '');
  if (kind === 'boolean') return typeof v === 'boolean' && v === other;
  if (kind === 'numeric') return typeof v === 'number' && typeof other === 'number' && compare(base, v, other);
  if (typeof v !== 'string' || typeof other !== 'string') return false;
  if (base === 'Matches') return wildcard(other).test(v);
  if (kind === 'timestamp') {
    const a = parseTimestamp(v);
    const b = parseTimestamp(other);
    return a !== undefined && b !== undefined && compare(base, compareTimestamps(a, b), 0);
  }
  return compare(base, v, other);
}

function compare<T extends number | string>(op: string, a: T, b: T): boolean {
  switch (op) {
    case 'Equals': return a === b;
    case 'LessThan': return a < b;
    case 'GreaterThan': return a > b;
    case 'LessThanEquals': return a <= b;
    default: return a >= b;
  }
}

/** StringMatches: `*` matches any run of characters; `\*` and `\\` are literal. */
function wildcard(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '*') re += '.*';
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}
