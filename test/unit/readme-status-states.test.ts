/** The README's `joinflow status` row names every value a step's `state` can take in `--json`. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { STATUS } from '../../src/adapters/local/journal-codec.ts';
import type { StepSummary } from '../../src/cli/local-runs.ts';

const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');

describe('README: joinflow status --json', () => {
  it('names every state of a step: each status the log keeps for an attempt, and waiting', () => {
    const row = readme.split('\n').find((line) => line.startsWith('| `joinflow status <runId>'));
    expect(row).toBeDefined();
    // The local part of the row: what it says before the stage's (`--stage`/`--table`/...).
    const local = row!.slice(0, row!.indexOf('with any of `--stage`'));
    const states: ReadonlyArray<StepSummary['state']> = [...STATUS, 'waiting'];
    expect(states.filter((state) => !local.includes(`\`${state}\``))).toEqual([]);
  });
});
