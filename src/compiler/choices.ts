/**
 * Choices (`when`): a step runs only when an EventBridge pattern matches what it would receive,
 * `{input, results}`; otherwise it is skipped. A step whose needs were all skipped is skipped
 * too, so a branch that was not chosen is skipped step by step, and a step after several
 * branches runs with the results of those that ran.
 *
 * Catching (`catch: h` on step s): when s fails for good, h runs instead of the run failing; when
 * s does not fail, h is skipped. The steps after s then miss s's result, as after a skipped step.
 */
import type { Problem } from '../model/errors.ts';
import { compilePattern, PatternError } from '../model/pattern.ts';
import type { StepSpec } from '../model/workflow.ts';

/** The fields of a step's event that `when` may test. */
const WHEN_FIELDS = new Set(['input', 'results']);

/** Problems of one step's `when`: an invalid pattern, a field it cannot test, a result that is not a need's. */
export function whenProblems(id: string, step: StepSpec): Problem[] {
  const when = step.when;
  if (when === undefined) return [];
  const path = `steps.${id}.when`;
  try {
    compilePattern(when);
  } catch (error) {
    if (!(error instanceof PatternError)) throw error;
    return [{ path: error.path ? `${path}.${error.path}` : path, message: error.message.replace(/^event pattern (?:at .*?)?: /, '') }];
  }
  const problems: Problem[] = [];
  const check = (pattern: Record<string, unknown>, at: string): void => {
    for (const [key, sub] of Object.entries(pattern)) {
      if (key === '$or' && Array.isArray(sub)) {
        sub.forEach((alt, i) => check(alt as Record<string, unknown>, `${at}.$or[${i}]`));
        continue;
      }
      if (!WHEN_FIELDS.has(key)) {
        problems.push({ path: `${at}.${key}`, message: 'a step\'s "when" tests what the step would receive: "input" (the run\'s input) or "results" (its needs\' outputs)' });
        continue;
      }
      if (key !== 'results' || typeof sub !== 'object' || sub === null || Array.isArray(sub)) continue;
      for (const need of Object.keys(sub)) {
        if (need === '$or' || step.needs.includes(need)) continue;
        problems.push({ path: `${at}.results.${need}`, message: `"${need}" is not a need of "${id}", so its result is not among those the step receives: add it to needs` });
      }
    }
  };
  check(when, path);
  return problems;
}

type ChoiceStep = Pick<StepSpec, 'needs' | 'when' | 'forEach' | 'catch'>;

/** The catch steps, by the step each one catches (only for catch steps that exist). */
export function catchers(steps: Readonly<Record<string, ChoiceStep>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [id, s] of Object.entries(steps)) if (s.catch !== undefined && Object.hasOwn(steps, s.catch)) out.set(id, s.catch);
  return out;
}

/**
 * The steps that may end without a result: those that may be skipped (a `when`, all needs
 * missing, a forEach over a missing array, a catch step), and those whose failure is caught.
 * The graph of needs, catch steps after the steps they catch, must be acyclic.
 */
export function skippableSteps(steps: Readonly<Record<string, ChoiceStep>>): Set<string> {
  const caught = catchers(steps);
  const catchSteps = new Set(caught.values());
  const memo = new Map<string, boolean>();
  const visit = (id: string): boolean => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    memo.set(id, false); // a cycle (reported elsewhere) ends here
    // Own steps only: a need named "toString" must not find Object.prototype.toString.
    const s = Object.hasOwn(steps, id) ? steps[id] : undefined;
    let result = false;
    if (s) {
      const over = s.forEach === undefined ? undefined : typeof s.forEach === 'string' ? s.forEach : s.forEach.step;
      result = s.when !== undefined || catchSteps.has(id) || caught.has(id) ||
        (s.needs.length > 0 && s.needs.every((n) => visit(n))) ||
        (over !== undefined && visit(over));
    }
    memo.set(id, result);
    return result;
  };
  return new Set(Object.keys(steps).filter((id) => visit(id)));
}

/** A step waiting for some of its needs cannot tell a skipped (or caught) need from one still running: refused. */
export function waitSkipProblems(steps: Readonly<Record<string, StepSpec>>, skippable: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  for (const [id, s] of Object.entries(steps)) {
    const k = s.wait === 'any' ? 1 : typeof s.wait === 'object' ? s.wait.quorum : s.needs.length;
    if (k >= s.needs.length) continue;
    const skipped = s.needs.filter((n) => skippable.has(n));
    if (skipped.length === 0) continue;
    problems.push({
      path: `steps.${id}.wait`,
      message: `waits for some of its needs, but ${skipped.map((n) => `"${n}"`).join(', ')} may end without a result (skipped by a "when", or a failure caught by a "catch"): ` +
        'a step that waits for some of its needs cannot wait on a step that may be skipped; wait for all of them, or move the choice after this step',
    });
  }
  return problems;
}

/** Problems of `catch`: an unknown or unfit catch step, a forEach step, two steps with one catch step. */
export function catchProblems(steps: Readonly<Record<string, StepSpec>>, allIds: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  const taken = new Map<string, string>();
  for (const [id, s] of Object.entries(steps)) {
    const h = s.catch;
    if (h === undefined) continue;
    const path = `steps.${id}.catch`;
    if (h === id) {
      problems.push({ path, message: `step "${id}" cannot catch its own failure: name another step` });
      continue;
    }
    if (!allIds.has(h)) {
      problems.push({ path, message: `unknown step "${h}"` });
      continue;
    }
    if (s.forEach !== undefined) problems.push({ path, message: 'a forEach step cannot have a catch: its items fail one by one while the others run on' });
    const other = taken.get(h);
    if (other !== undefined) problems.push({ path, message: `"${h}" already catches the failure of "${other}": a catch step catches one step` });
    taken.set(h, id);
    const c = Object.hasOwn(steps, h) ? steps[h] : undefined;
    if (!c) continue;
    const at = `steps.${h}`;
    if (c.needs.length > 0) problems.push({ path: `${at}.needs`, message: `"${h}" catches the failure of "${id}": it starts when "${id}" fails and gets the results of "${id}"'s needs, so it has no needs of its own` });
    if (c.forEach !== undefined) problems.push({ path: `${at}.forEach`, message: `"${h}" catches the failure of "${id}", so it runs once: drop "forEach"` });
    if (c.when !== undefined) problems.push({ path: `${at}.when`, message: `"${h}" catches the failure of "${id}": it runs exactly when "${id}" fails, so it takes no "when"` });
  }
  return problems;
}
