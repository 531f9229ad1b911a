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
  // The bad paths as a tree, walked along the path asked about: a trace of thousands of bad
  // records asks about each of them (a scan of every bad path per question took minutes).
  const bad: PathTree = new Map();
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') continue;
    let node = bad;
    for (const k of i.path) {
      if (node.get(END)) break; // a shorter bad path covers this one
      let next = node.get(k);
      if (!(next instanceof Map)) node.set(k, (next = new Map()));
      node = next;
    }
    node.clear();
    node.set(END, true);
  }
  // Invalid when a bad path is a prefix of `path`, or `path` of a bad path.
  const valid = (...path: PropertyKey[]) => {
    let node = bad;
    for (const k of path) {
      if (node.get(END)) return false;
      const next = node.get(k);
      if (!(next instanceof Map)) return true;
      node = next;
    }
    return node.size === 0;
  };
  return { problems, valid };
}

/** Marks the end of a bad path in a PathTree. */
const END = Symbol('end');
/** Bad paths, key by key; END where one ends. */
type PathTree = Map<PropertyKey, PathTree | true>;

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
