/** Every command that reads or manages the local state says in its help how it exits. */
import { describe, expect, it } from 'vitest';
import { HELP } from '../../src/cli/help.ts';

describe('help of the state commands', () => {
  it.each(['list', 'status', 'logs', 'events', 'cancel', 'resume', 'gc', 'dlq', 'timeline'])('%s states its exit codes', (command) => {
    expect(HELP[command]).toMatch(/\nExit codes: 0 /);
  });

  it('dlq says what --json prints', () => {
    expect(HELP['dlq']).toContain('[{id, at, reason, event}]');
  });

  it('status names every state a step of a local run can show, skipped, waiting and a forEach over an empty array included', () => {
    expect(HELP['status']).toMatch(/latest attempt\s+\(dispatched, started, succeeded, failed, cancelled; with 0 attempts: skipped,[^;]+;\s+waiting, 'delay, due at <time>'/);
    expect(HELP['status']).toMatch(/succeeded, 'forEach over 0 items', for a forEach over an empty array/);
  });
  it('lists the AWS options where its usage names them, each flag the command takes on a line of its own', () => {
    // list and cancel said "[AWS options]" and listed none; start's said "--bus / --table" though it refuses --table.
    for (const command of ['list', 'status', 'cancel', 'start']) {
      const help = HELP[command]!;
      expect(help, command).toContain('[AWS options]');
      expect(help, command).toMatch(/\nAWS options:\n  --stage S /);
      for (const flag of ['--region R', '--endpoint URL', '--bus B']) expect(help, command).toMatch(new RegExp(`\\n  ${flag} `));
      expect(help.includes('\n  --table T '), command).toBe(command !== 'start');
    }
    expect(HELP['start']).not.toContain('--table');
  });
});

describe('help of run', () => {
  it('names the default --concurrency of every executor kind, as the engine sets it', async () => {
    const { defaultConcurrency } = await import('../../src/adapters/local/engine-support.ts');
    const text = HELP['run']!.replace(/\s+/g, ' ');
    const clause = /default: CPUs for ([^;)]*), unlimited for ([a-z, ]+)\)/.exec(text);
    expect(clause, text).not.toBeNull();
    const named = (list: string) => list.split(/, | and /).map((k) => k.trim()).sort();
    const defaults = Object.entries(defaultConcurrency());
    expect(named(clause![1]!)).toEqual(defaults.filter(([, n]) => n !== Infinity).map(([k]) => k).sort());
    expect(named(clause![2]!)).toEqual(defaults.filter(([, n]) => n === Infinity).map(([k]) => k).sort());
  });
});

describe('help of the AWS commands', () => {
  it('names the region variables the AWS config reads (AWS_REGION, then AWS_DEFAULT_REGION)', async () => {
    const { configFromEnv } = await import('../../src/adapters/aws/config.ts');
    expect(configFromEnv({ AWS_DEFAULT_REGION: 'eu-west-1' }).region).toBe('eu-west-1');
    for (const command of ['list', 'status', 'cancel', 'start', 'worker']) {
      expect(HELP[command]!.replace(/\s+/g, ' '), command).toMatch(/--region R AWS region \(default \$AWS_REGION,? (else|or) \$AWS_DEFAULT_REGION, else us-east-1\)/);
    }
  });
});
