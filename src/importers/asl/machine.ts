/**
 * The Amazon States Language subset `joinflow import asl` takes (JSONPath mode): Task, Pass, Choice,
 * Wait, Succeed, Fail, Parallel and Map (inline), with InputPath, Parameters, ResultSelector,
 * ResultPath, OutputPath, Retry and Catch. Everything else is refused with the path of the field.
 */
import type { Problem } from '../../model/errors.ts';
import { suggest } from '../../compiler/validate.ts';
import { ruleProblems } from './choice.ts';
import { pathProblem, templateProblems } from './paths.ts';
import { parseTimestamp } from './timestamps.ts';

/** The longest Wait of fixed Seconds: a step's delayMs is at most a year. */
const YEAR_S = 31_536_000;

export type State = Record<string, unknown> & { Type: string };
export type Scope = { StartAt: string; States: Record<string, State> };
export type Retrier = { ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number; BackoffRate?: number; MaxDelaySeconds?: number };
export type Catcher = { ErrorEquals: string[]; Next: string; ResultPath?: string | null };

const COMMON = ['Type', 'Comment'];
const IO = ['InputPath', 'OutputPath'];
const FIELDS: Record<string, string[]> = {
  Task: [...COMMON, ...IO, 'Next', 'End', 'Resource', 'Parameters', 'ResultSelector', 'ResultPath', 'Retry', 'Catch', 'TimeoutSeconds', 'HeartbeatSeconds'],
  Pass: [...COMMON, ...IO, 'Next', 'End', 'Result', 'ResultPath', 'Parameters'],
  Choice: [...COMMON, ...IO, 'Choices', 'Default'],
  Wait: [...COMMON, ...IO, 'Next', 'End', 'Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'],
  Succeed: [...COMMON, ...IO],
  Fail: [...COMMON, 'Error', 'ErrorPath', 'Cause', 'CausePath'],
  Parallel: [...COMMON, ...IO, 'Next', 'End', 'Branches', 'Parameters', 'ResultSelector', 'ResultPath', 'Retry', 'Catch'],
  Map: [...COMMON, ...IO, 'Next', 'End', 'Iterator', 'ItemProcessor', 'ItemsPath', 'Parameters', 'ItemSelector', 'MaxConcurrency',
    'ResultSelector', 'ResultPath', 'Retry', 'Catch'],
};
/** Fields of a newer ASL that joinflow does not import, and why. */
const REFUSED: Record<string, string> = {
  QueryLanguage: 'JSONata is not imported; joinflow takes the JSONPath mode of ASL',
  Arguments: 'belongs to JSONata, which joinflow does not import',
  Output: 'belongs to JSONata, which joinflow does not import',
  Assign: 'workflow variables are not imported: pass the data along with ResultPath',
  Credentials: 'cross-account Task credentials are not imported',
  TimeoutSecondsPath: 'a time-out read from the input is not imported: give TimeoutSeconds',
  HeartbeatSecondsPath: 'a heartbeat read from the input is not imported',
  ItemReader: 'a distributed Map reading from S3 is not imported: give the items in the input (ItemsPath)',
  ResultWriter: 'a distributed Map writing its results to S3 is not imported',
  ItemBatcher: 'item batching is not imported',
  ToleratedFailurePercentage: 'tolerated failures of a distributed Map are not imported',
  ToleratedFailureCount: 'tolerated failures of a distributed Map are not imported',
  ToleratedFailurePercentagePath: 'tolerated failures of a distributed Map are not imported',
  ToleratedFailureCountPath: 'tolerated failures of a distributed Map are not imported',
  MaxConcurrencyPath: 'a concurrency read from the input is not imported',
  Label: 'belongs to a distributed Map, which is not imported',
};

/** `States.Name` or `States["a name"]`: how problems name a state. */
export function statePath(scope: string, name: string): string {
  return `${scope}States${/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`}`;
}

/** Checks a machine; `warnings` are fields that are read but have no effect on joinflow. */
export function checkMachine(machine: unknown): { problems: Problem[]; warnings: Problem[] } {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  if (machine === null || typeof machine !== 'object' || Array.isArray(machine)) {
    return { problems: [{ path: '', message: 'a state machine must be a JSON object with StartAt and States' }], warnings };
  }
  const m = machine as Record<string, unknown>;
  for (const k of Object.keys(m)) {
    if (k === 'QueryLanguage' && m[k] !== 'JSONPath') problems.push({ path: k, message: REFUSED[k]! });
    else if (k === 'TimeoutSeconds') warnings.push({ path: k, message: 'not imported: a joinflow run has no overall time-out (give Task states TimeoutSeconds)' });
    else if (!['StartAt', 'States', 'Comment', 'Version', 'QueryLanguage', 'TimeoutSeconds'].includes(k)) problems.push({ path: k, message: `"${k}" is not a field of a state machine` });
  }
  checkScope(m, '', problems, warnings);
  return { problems, warnings };
}

function checkScope(scope: Record<string, unknown>, at: string, problems: Problem[], warnings: Problem[]): void {
  const states = scope['States'];
  if (states === null || typeof states !== 'object' || Array.isArray(states) || Object.keys(states).length === 0) {
    problems.push({ path: `${at}States`, message: 'is required: an object of at least one state, by name' });
    return;
  }
  const names = Object.keys(states);
  const start = scope['StartAt'];
  if (typeof start !== 'string') problems.push({ path: `${at}StartAt`, message: 'is required: the name of the first state' });
  else if (!names.includes(start)) problems.push({ path: `${at}StartAt`, message: `there is no state "${start}"${hint(start, names)}` });
  // A Next that names no state (a typo) would make the states after it look unreachable too.
  let unknownTarget = false;
  const targetOf = (target: unknown, where: string): void => {
    if (typeof target !== 'string') problems.push({ path: where, message: 'must name a state' });
    else if (!names.includes(target)) {
      unknownTarget = true;
      problems.push({ path: where, message: `there is no state "${target}" in ${at === '' ? 'the machine' : 'this branch'}${hint(target, names)}` });
    }
  };
  for (const name of names) {
    const s = (states as Record<string, unknown>)[name];
    const p = statePath(at, name);
    if (name.length > 80) problems.push({ path: p, message: 'a state name is at most 80 characters' });
    // Its step would be "__proto__", which no JavaScript object can have as its own key.
    if (name === '__proto__') problems.push({ path: p, message: '"__proto__" is reserved in JavaScript objects and cannot name a state here: rename the state' });
    if (s === null || typeof s !== 'object' || Array.isArray(s)) {
      problems.push({ path: p, message: 'a state must be an object with a Type' });
      continue;
    }
    const st = s as Record<string, unknown>;
    const type = st['Type'];
    const allowed = typeof type === 'string' ? FIELDS[type] : undefined;
    if (!allowed) {
      problems.push({ path: `${p}.Type`, message: `${type === undefined ? 'is required' : `"${String(type)}" is not a state type`}: one of ${Object.keys(FIELDS).join(', ')}` });
      continue;
    }
    for (const k of Object.keys(st)) {
      // A state may say QueryLanguage JSONPath, the mode joinflow imports, as the machine may.
      if (k === 'QueryLanguage' && st[k] === 'JSONPath') continue;
      if (REFUSED[k] !== undefined) problems.push({ path: `${p}.${k}`, message: REFUSED[k] });
      else if (!allowed.includes(k)) problems.push({ path: `${p}.${k}`, message: `"${k}" is not a field of a ${type} state` });
    }
    const hasNext = allowed.includes('Next');
    if (hasNext) {
      if ('Next' in st && st['End'] !== undefined) problems.push({ path: p, message: 'has both Next and End: give one' });
      else if ('Next' in st) targetOf(st['Next'], `${p}.Next`);
      else if (st['End'] !== true) problems.push({ path: p, message: `a ${type} state that does not end its ${at === '' ? 'machine' : 'branch'} needs Next (the state after it); otherwise give it End: true` });
    }
    // InputPath and OutputPath are Paths, which may select several values (gathered in a list); ResultPath a Reference Path (ASL).
    for (const k of ['InputPath', 'OutputPath', 'ResultPath']) {
      if (st[k] === undefined || st[k] === null) continue;
      const why = pathProblem(st[k], false, k !== 'ResultPath');
      if (why) problems.push({ path: `${p}.${k}`, message: why });
      else if (k === 'ResultPath' && (st[k] as string).startsWith('$$')) problems.push({ path: `${p}.${k}`, message: 'cannot write to the context object ($$)' });
    }
    for (const k of ['Parameters', 'ResultSelector', 'ItemSelector']) if (st[k] !== undefined) problems.push(...templateProblems(st[k], `${p}.${k}`));
    if (type === 'Task') checkTask(st, p, problems, warnings);
    if (type === 'Choice') {
      const choices = st['Choices'];
      if (!Array.isArray(choices) || choices.length === 0) problems.push({ path: `${p}.Choices`, message: 'is required: a non-empty array of rules' });
      else choices.forEach((r, i) => {
        problems.push(...ruleProblems(r, `${p}.Choices[${i}]`, true));
        if (r !== null && typeof r === 'object' && typeof (r as Record<string, unknown>)['Next'] === 'string') targetOf((r as Record<string, unknown>)['Next'], `${p}.Choices[${i}].Next`);
      });
      if (st['Default'] !== undefined) targetOf(st['Default'], `${p}.Default`);
    }
    if (type === 'Wait') {
      const given = ['Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'].filter((k) => st[k] !== undefined);
      if (given.length !== 1) problems.push({ path: p, message: `a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath${given.length ? `; it has ${given.join(', ')}` : ''}` });
      if (st['Seconds'] !== undefined && !(Number.isInteger(st['Seconds']) && (st['Seconds'] as number) >= 0)) problems.push({ path: `${p}.Seconds`, message: 'must be a whole number of seconds, 0 or more' });
      else if (typeof st['Seconds'] === 'number' && st['Seconds'] > YEAR_S) problems.push({ path: `${p}.Seconds`, message: `at most ${YEAR_S} (a year) is imported: joinflow's timer waits no longer, got ${st['Seconds']}` });
      if (typeof st['Timestamp'] === 'string' && parseTimestamp(st['Timestamp']) === undefined) {
        problems.push({ path: `${p}.Timestamp`, message: 'must be an RFC 3339 timestamp with its time and zone, such as "2026-03-14T01:59:00Z"' });
      }
      for (const k of ['SecondsPath', 'TimestampPath']) if (st[k] !== undefined) {
        const why = pathProblem(st[k]);
        if (why) problems.push({ path: `${p}.${k}`, message: why });
      }
    }
    if (type === 'Fail') for (const k of ['ErrorPath', 'CausePath']) if (st[k] !== undefined) {
      const why = pathProblem(st[k], true);
      if (why) problems.push({ path: `${p}.${k}`, message: why });
      const fixed = k.slice(0, -4);
      if (st[fixed] !== undefined) problems.push({ path: p, message: `a Fail state gives ${fixed} or ${k}, not both` });
    }
    if (type === 'Pass' && st['Result'] !== undefined && st['Parameters'] !== undefined) problems.push({ path: p, message: 'a Pass state gives Result or Parameters, not both' });
    if (type === 'Task' || type === 'Parallel' || type === 'Map') checkRetryCatch(st, p, problems, targetOf);
    if (type === 'Parallel') {
      const branches = st['Branches'];
      if (!Array.isArray(branches) || branches.length === 0) problems.push({ path: `${p}.Branches`, message: 'is required: a non-empty array of branches, each with StartAt and States' });
      else branches.forEach((b, i) => checkSub(b, `${p}.Branches[${i}]`, problems, warnings));
    }
    if (type === 'Map') {
      if ((st['Iterator'] === undefined) === (st['ItemProcessor'] === undefined)) problems.push({ path: p, message: 'a Map state needs its ItemProcessor (or the older Iterator): one of them' });
      if (st['Parameters'] !== undefined && st['ItemSelector'] !== undefined) problems.push({ path: p, message: 'give ItemSelector or Parameters, not both' });
      if (st['ItemsPath'] !== undefined) {
        const why = pathProblem(st['ItemsPath']);
        if (why) problems.push({ path: `${p}.ItemsPath`, message: why });
      }
      const max = st['MaxConcurrency'];
      if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 0)) problems.push({ path: `${p}.MaxConcurrency`, message: 'must be a whole number, 0 or more (0: no limit)' });
      const key = st['Iterator'] !== undefined ? 'Iterator' : 'ItemProcessor';
      checkSub(st[key], `${p}.${key}`, problems, warnings);
    }
  }
  if (!unknownTarget) reachability(states as Record<string, Record<string, unknown>>, typeof start === 'string' ? start : undefined, at, problems);
}

function checkSub(sub: unknown, at: string, problems: Problem[], warnings: Problem[]): void {
  if (sub === null || typeof sub !== 'object' || Array.isArray(sub)) {
    problems.push({ path: at, message: 'must be an object with StartAt and States' });
    return;
  }
  const s = sub as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (k === 'ProcessorConfig') {
      const mode = (s[k] as { Mode?: unknown } | null)?.Mode;
      if (mode !== undefined && mode !== 'INLINE') problems.push({ path: `${at}.ProcessorConfig.Mode`, message: `"${String(mode)}" is not imported: only INLINE Map states (items from the input)` });
    } else if (!['StartAt', 'States', 'Comment'].includes(k)) problems.push({ path: `${at}.${k}`, message: `"${k}" is not a field of a branch` });
  }
  checkScope(s, `${at}.`, problems, warnings);
}

function checkTask(st: Record<string, unknown>, p: string, problems: Problem[], warnings: Problem[]): void {
  const r = st['Resource'];
  if (typeof r !== 'string' || r === '') problems.push({ path: `${p}.Resource`, message: 'is required: the Lambda function (or service) the Task calls' });
  else if (/\.(?:waitForTaskToken|sync(?::2)?)$/.test(r)) problems.push({ path: `${p}.Resource`, message: `"${r}": the .sync and .waitForTaskToken integration patterns are not imported (joinflow calls the task and takes its result)` });
  else if (r === 'arn:aws:states:::lambda:invoke') {
    const params = st['Parameters'] as Record<string, unknown> | undefined;
    if (params === undefined || (typeof params['FunctionName'] !== 'string' && typeof params['FunctionName.$'] !== 'string')) {
      problems.push({ path: `${p}.Parameters.FunctionName`, message: 'is required with arn:aws:states:::lambda:invoke: the function to call' });
    }
  } else if (/^arn:aws:states:[^:]*:[^:]*:activity:/.test(r)) problems.push({ path: `${p}.Resource`, message: 'activities are not imported: use a Lambda function, which joinflow runs as a function step' });
  if (st['TimeoutSeconds'] !== undefined && !(Number.isInteger(st['TimeoutSeconds']) && (st['TimeoutSeconds'] as number) > 0)) {
    problems.push({ path: `${p}.TimeoutSeconds`, message: 'must be a whole number of seconds, more than 0' });
  }
  if (st['HeartbeatSeconds'] !== undefined) warnings.push({ path: `${p}.HeartbeatSeconds`, message: 'not imported: joinflow has no task heartbeats (TimeoutSeconds still applies)' });
}

function checkRetryCatch(st: Record<string, unknown>, p: string, problems: Problem[], targetOf: (t: unknown, where: string) => void): void {
  const list = (k: string, fields: string[], each: (x: Record<string, unknown>, where: string) => void) => {
    const v = st[k];
    if (v === undefined) return;
    if (!Array.isArray(v)) return problems.push({ path: `${p}.${k}`, message: 'must be an array' });
    v.forEach((x, i) => {
      const where = `${p}.${k}[${i}]`;
      if (x === null || typeof x !== 'object' || Array.isArray(x)) return problems.push({ path: where, message: 'must be an object' });
      const o = x as Record<string, unknown>;
      for (const f of Object.keys(o)) if (!fields.includes(f)) problems.push({ path: `${where}.${f}`, message: `"${f}" is not a field of a ${k === 'Retry' ? 'retrier' : 'catcher'}` });
      const errs = o['ErrorEquals'];
      if (!Array.isArray(errs) || errs.length === 0 || !errs.every((e) => typeof e === 'string')) problems.push({ path: `${where}.ErrorEquals`, message: 'is required: a non-empty array of error names (States.ALL matches every error)' });
      else if (errs.includes('States.ALL') && errs.length > 1) problems.push({ path: `${where}.ErrorEquals`, message: 'States.ALL must be alone in its ErrorEquals' });
      else if (errs.includes('States.ALL') && i < v.length - 1) {
        problems.push({ path: `${where}.ErrorEquals`, message: `States.ALL must be in the last ${k === 'Retry' ? 'retrier' : 'catcher'}: the ones after it could never apply` });
      }
      each(o, where);
    });
  };
  list('Retry', ['ErrorEquals', 'IntervalSeconds', 'MaxAttempts', 'BackoffRate', 'MaxDelaySeconds', 'JitterStrategy', 'Comment'], (o, where) => {
    for (const [f, min, int] of [['IntervalSeconds', 1, true], ['MaxAttempts', 0, true], ['BackoffRate', 1, false], ['MaxDelaySeconds', 1, true]] as const) {
      const v = o[f];
      if (v !== undefined && !(typeof v === 'number' && v >= min && (!int || Number.isInteger(v)))) problems.push({ path: `${where}.${f}`, message: `must be ${int ? 'a whole number' : 'a number'}, at least ${min}` });
    }
    // A step's maxAttempts (the first attempt and its retries) is at most 1000: said here, at the retrier, not at the generated step.
    const max = o['MaxAttempts'];
    if (typeof max === 'number' && Number.isInteger(max) && max > 999) problems.push({ path: `${where}.MaxAttempts`, message: `at most 999 retries are imported (joinflow runs a step at most 1000 times), got ${max}` });
    if (o['JitterStrategy'] !== undefined && o['JitterStrategy'] !== 'NONE') problems.push({ path: `${where}.JitterStrategy`, message: 'only NONE is imported: joinflow\'s retry backoff has no jitter' });
  });
  list('Catch', ['ErrorEquals', 'Next', 'ResultPath', 'Comment'], (o, where) => {
    targetOf(o['Next'], `${where}.Next`);
    if (o['ResultPath'] !== undefined && o['ResultPath'] !== null) {
      const why = pathProblem(o['ResultPath']);
      if (why) problems.push({ path: `${where}.ResultPath`, message: why });
      else if ((o['ResultPath'] as string).startsWith('$$')) problems.push({ path: `${where}.ResultPath`, message: 'cannot write to the context object ($$)' });
    }
  });
}

/** The states a state can go to next (Next, Choices, Default, Catch). */
export function successors(st: Record<string, unknown>): string[] {
  const out: string[] = [];
  const add = (t: unknown) => {
    if (typeof t === 'string' && !out.includes(t)) out.push(t);
  };
  add(st['Next']);
  if (Array.isArray(st['Choices'])) for (const r of st['Choices']) add((r as Record<string, unknown> | null)?.['Next']);
  add(st['Default']);
  if (Array.isArray(st['Catch'])) for (const c of st['Catch']) add((c as Record<string, unknown> | null)?.['Next']);
  return out;
}

function reachability(states: Record<string, Record<string, unknown>>, start: string | undefined, at: string, problems: Problem[]): void {
  if (start === undefined || !Object.hasOwn(states, start)) return;
  const seen = new Set([start]);
  const queue = [start];
  while (queue.length > 0) {
    const s = states[queue.pop()!];
    if (s === null || typeof s !== 'object') continue;
    for (const t of successors(s)) if (Object.hasOwn(states, t) && !seen.has(t)) {
      seen.add(t);
      queue.push(t);
    }
  }
  for (const name of Object.keys(states)) if (!seen.has(name)) problems.push({ path: statePath(at, name), message: `is not reachable from StartAt "${start}"` });
}

function hint(name: string, names: string[]): string {
  const lower = name.toLowerCase();
  const near = names.find((n) => n.toLowerCase() === lower || n.toLowerCase().replace(/\W/g, '') === lower.replace(/\W/g, ''));
  // Else a typo: the nearest name by edit distance, as for steps.
  return near === undefined ? suggest(name, names) : ` (did you mean "${near}"?)`;
}
