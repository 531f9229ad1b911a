/** `joinflow test-pattern`: an event that is not a JSON object is invalid (exit 2), not "no match". */
import { describe, expect, it } from 'vitest';
import { testPatternCommand } from '../../src/cli/test-pattern-command.ts';
import { UsageError } from '../../src/model/errors.ts';

describe('joinflow test-pattern --event', () => {
  it.each(['[]', '"x"', '1', 'null'])('refuses %s as an invalid event (a usage error: exit 2)', async (event) => {
    await expect(testPatternCommand(['--pattern', '{"source": ["a"]}', '--event', event])).rejects.toThrow(UsageError);
    await expect(testPatternCommand(['--pattern', '{"source": ["a"]}', '--event', event])).rejects.toThrow('--event must be a JSON object');
  });
});
