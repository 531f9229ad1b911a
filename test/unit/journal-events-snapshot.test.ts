/**
 * A reader of the journal (events tail in another process) reads a Run Requested whose input is
 * its run's (EventFlag.RunInput) and the run's input from one snapshot: a gc committed by another
 * process between the two reads does not leave the request without its input. The interleaving is
 * made deterministic by deleting the run (as gc does) from another connection right before the
 * reader reads the run's row, after it has read the journal rows.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { DetailType, type EventEnvelope } from '../../src/model/events.ts';
import { journalStates } from '../helpers/journal-states.ts';

const hooks = vi.hoisted(() => ({ beforeRunRead: undefined as undefined | (() => void) }));
vi.mock('../../src/adapters/local/run-inputs.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/adapters/local/run-inputs.ts')>();
  return {
    ...real,
    inputsApart: (...args: Parameters<typeof real.inputsApart>) => {
      const inputs = real.inputsApart(...args);
      return {
        ...inputs,
        select: (rest: string) => {
          const statement = inputs.select(rest);
          // The journal reads a run's row by its id: the hook runs once, right before.
          return () => {
            const hook = rest === 'WHERE runs.run_id = ?' ? hooks.beforeRunRead : undefined;
            hooks.beforeRunRead = undefined;
            hook?.();
            return statement();
          };
        },
      };
    },
  };
});

const { open, freshDir } = journalStates('joinflow-events-snapshot-');
const plan = { workflow: 'wf', steps: {}, triggers: [] } as never;

describe('events read by another process', () => {
  it.each(['eventsAfter', 'runEvents'] as const)('%s: a Run Requested keeps its input when gc deletes its run between reading the rows and reading the run', async (reader) => {
    const dir = freshDir();
    const s = open(dir);
    const input = { text: 'the input of run r' };
    const request: EventEnvelope = { id: 'req-1', source: 'joinflow', 'detail-type': DetailType.RunRequested, time: new Date(0).toISOString(), detail: { workflow: 'wf', runId: 'r', input } };
    s.log.saveRun('r', plan, {});
    const [seq] = s.log.appendEvents([request]);
    await s.store.startRun({ runId: 'r', workflow: 'wf', input, startedAt: 1 });
    s.log.markProcessed([seq!]);
    await s.store.finishRun('r', { status: 'succeeded', finishedAt: 2 });
    await s.store.commit();
    s.close();

    const tail = open(dir);
    let deleted = false;
    hooks.beforeRunRead = () => {
      const other = new Database(path.join(dir, 'state.db'));
      try {
        other.exec(`BEGIN IMMEDIATE; DELETE FROM journal WHERE run_id = 'r'; DELETE FROM run_inputs WHERE run_id = 'r'; DELETE FROM runs WHERE run_id = 'r'; COMMIT;`);
        deleted = true;
      } finally {
        other.close();
      }
    };
    const events = reader === 'eventsAfter' ? tail.log.eventsAfter(0, 100).map((e) => e.event) : tail.log.runEvents!('r');
    expect(deleted).toBe(true);
    expect(events).toEqual([request]);
    // Read again: the run is gone, and so are its events.
    expect(tail.log.eventsAfter(0, 100)).toEqual([]);
  });
});
