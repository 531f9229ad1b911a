/**
 * How the trace readers name what is wrong: every problem of every record with its JSON path
 * (`executions[3].start`, `[3].start`), as the workflow validator and the WfCommons importer
 * do, and a bounded list in the error (a trace of thousands of bad records stays readable).
 */
import type { z } from 'zod';
import { issueMessage, pathKey, type Problem } from '../model/errors.ts';

/** Problems listed in an error; the rest are counted. */
export const LISTED_PROBLEMS = 10;

/** A JSON path as printed: `executions[3].start` (`[3].start` for a top-level array). */
export function jsonPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${pathKey(k)}`)).join('').replace(/^\./, '');
}

/**
 * The problems of zod issues, and a test of whether the value at a path passed: no issue at it,
 * inside it, or at what holds it. A record's unknown keys do not make its known fields invalid.
 */
export function issueProblems(issues: readonly z.core.$ZodIssue[], input: unknown): { problems: Problem[]; valid: (...path: PropertyKey[]) => boolean } {
  const problems = issues.map((i) => ({ path: jsonPath(i.path), message: issueMessage(i, input) }));
  const bad = issues.filter((i) => i.code !== 'unrecognized_keys').map((i) => i.path);
  // One path is a prefix of the other where they overlap.
  const valid = (...path: PropertyKey[]) => !bad.some((b) => b.every((k, n) => n >= path.length || k === path[n]));
  return { problems, valid };
}

/** `  - path: message` lines, the first LISTED_PROBLEMS, then how many more. */
export function listProblems(problems: readonly Problem[]): string {
  const lines = problems.slice(0, LISTED_PROBLEMS).map((p) => `  - ${p.path ? `${p.path}: ` : ''}${p.message}`);
  const more = problems.length - LISTED_PROBLEMS;
  return `${lines.join('\n')}${more > 0 ? `\n  ... and ${more} more` : ''}`;
}

/** `N problem(s)`, for an error's heading. */
export function countProblems(problems: readonly Problem[]): string {
  return `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
}
