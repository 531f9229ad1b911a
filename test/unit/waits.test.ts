/** How long a run can wait by its plan (runtime/waits.ts): what the DynamoDB store's TTL adds. */
import { describe, expect, it } from 'vitest';
import { runWaitMs, stepWaitMs } from '../../src/runtime/waits.ts';
import { plan } from '../helpers/plans.ts';

const sim = { type: 'simulate', durationMs: 0 } as const;

describe('runWaitMs', () => {
  it('is 0 for a plan without delays, retries or time-outs', () => {
    expect(runWaitMs(plan({ name: 'w', steps: { a: { executor: sim }, b: { needs: ['a'], executor: sim } } }))).toBe(0);
  });

  it('adds a step\'s delay, the backoff before each retry and a time-out per attempt', () => {
    const p = plan({
      name: 'w',
      steps: { a: { executor: sim, delayMs: 1000, timeoutMs: 50, retry: { maxAttempts: 4, backoffMs: 100, factor: 3, maxDelayMs: 500 } } },
    });
    // Backoffs 100, 300, min(900, 500) = 500; four attempts of at most 50 ms.
    expect(stepWaitMs(p.steps['a']!)).toBe(1000 + 100 + 300 + 500 + 4 * 50);
    expect(runWaitMs(p)).toBe(2100);
  });

  it('takes the longest chain of needs, not the sum of all steps', () => {
    const p = plan({
      name: 'w',
      steps: {
        a: { executor: sim, delayMs: 10 },
        b: { needs: ['a'], executor: sim, delayMs: 1000 },
        c: { needs: ['a'], executor: sim, delayMs: 5 },
        d: { needs: ['b', 'c'], executor: sim, delayMs: 7 },
        e: { executor: sim, delayMs: 900 },
      },
    });
    expect(runWaitMs(p)).toBe(10 + 1000 + 7);
  });

  it('follows a chain of 20,000 steps without overflowing the stack', () => {
    const steps: Record<string, { executor: typeof sim; needs?: string[]; delayMs: number }> = {};
    for (let i = 0; i < 20_000; i++) steps[`s${i}`] = { executor: sim, delayMs: 1, ...(i > 0 ? { needs: [`s${i - 1}`] } : {}) };
    expect(runWaitMs(plan({ name: 'w', steps }))).toBe(20_000);
  });
});
