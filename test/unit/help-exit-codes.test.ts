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

  it('status names every state a step of a local run can show, skipped included', () => {
    expect(HELP['status']).toMatch(/latest attempt\s+\(dispatched, started, succeeded, failed, cancelled; skipped,/);
  });
});
