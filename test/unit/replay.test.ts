/**
 * Replay: the processor's logic, written against a store that answers at once, run over a store
 * that answers with promises. A call whose promise rejects throws at that call when the logic runs
 * again, so that the logic can catch the errors it knows (an unreadable result) as it would on a
 * synchronous store.
 */
import { describe, expect, it } from 'vitest';
import { Replay } from '../../src/runtime/replay.ts';

class Known extends Error {}

describe('Replay', () => {
  it('throws a rejected call\'s error at that call on the next run, where the logic may catch it, and answers the calls before it from the record', async () => {
    const replay = new Replay();
    const made: string[] = [];
    const logic = () => {
      const first = replay.call(() => (made.push('first'), Promise.resolve(1)));
      try {
        replay.call<number>(() => (made.push('second'), Promise.reject(new Known('gone'))));
        return 'not reached';
      } catch (error) {
        if (!(error instanceof Known)) throw error;
        return `${first}: caught ${error.message}`;
      }
    };
    await expect(replay.run(logic)).resolves.toBe('1: caught gone');
    // Each call reached the store once.
    expect(made).toEqual(['first', 'second']);
  });

  it('rejects with an error the logic does not catch, as a synchronous store would throw it', async () => {
    const replay = new Replay();
    const failure = new Error('DynamoDB unreachable');
    await expect(replay.run(() => replay.call(() => Promise.reject(failure)))).rejects.toBe(failure);
  });
});
