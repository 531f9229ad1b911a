/**
 * Micro-benchmark of the SQLite state (not a test): `node --import tsx bench/sqlite-micro.ts
 * [--sync normal|full] [--batch 1000]`. 200 joins x 1,000 keys = 200,000 arrivals, then 200,000
 * event appends + markProcessed, committed every `--batch` operations as the engine's group
 * commit does. Prints rates and the final row counts.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSqliteState } from '../src/adapters/local/sqlite-state.ts';
import { UsageError } from '../src/model/errors.ts';
import type { EventEnvelope } from '../src/model/events.ts';
import { orExit, parseFlags, wholeNumber } from './options.ts';

const { sync, batch } = orExit('sqlite-micro', () => {
  const values = parseFlags(process.argv.slice(2), { sync: { type: 'string' }, batch: { type: 'string' } });
  if (values === 'help') process.exit((process.stdout.write('usage: node --import tsx bench/sqlite-micro.ts [--sync normal|full] [--batch N]\n'), 0));
  const sync = (values['sync'] as string | undefined) ?? 'normal';
  if (sync !== 'normal' && sync !== 'full') throw new UsageError(`--sync must be normal or full, got "${sync}"`);
  // A batch of 0 would never commit and never advance through the events.
  return { sync, batch: wholeNumber('--batch', (values['batch'] as string | undefined) ?? '1000', 1) } as const;
});
const JOINS = 200;
const KEYS = 1_000;
const EVENTS = 200_000;

const dir = mkdtempSync(path.join(tmpdir(), 'joinflow-sqlite-micro-'));
const state = openSqliteState({ dir, sync });
const { store, log } = state;
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US');

try {
  await store.startRun({ runId: 'bench', workflow: 'bench', input: null, startedAt: Date.now() });
  await store.commit();

  // Arrivals: keys interleaved across joins, as completions of a wide fan-out arrive.
  let t0 = performance.now();
  let n = 0;
  let completed = 0;
  for (let k = 0; k < KEYS; k++) {
    for (let j = 0; j < JOINS; j++) {
      const s = await store.arrive('bench', `join-${j}`, `item-${k}`, KEYS, k);
      if (s.need !== undefined && s.count >= s.need && (await store.claim('bench', `join-${j}`, 0, 30_000)) === 'won') completed++;
      if (++n % batch === 0) await store.commit();
    }
  }
  await store.commit();
  const arrivalMs = performance.now() - t0;
  if (completed !== JOINS) throw new Error(`expected ${JOINS} completed joins, got ${completed}`);

  // Events: append a batch, then mark it processed in the next transaction (as the engine
  // appends what a batch emitted and marks it processed when it is taken from the queue).
  const event = (i: number): EventEnvelope => ({
    id: `e${i}`,
    source: 'joinflow',
    'detail-type': 'Step Completed',
    time: '2024-01-01T00:00:00.000Z',
    detail: { workflow: 'bench', runId: 'bench', step: `s${i % 50}`, attempt: 1, item: i, output: { i } },
  });
  t0 = performance.now();
  let previous: number[] = [];
  for (let i = 0; i < EVENTS; i += batch) {
    log.markProcessed(previous);
    previous = log.appendEvents(Array.from({ length: Math.min(batch, EVENTS - i) }, (_, k) => event(i + k)));
    await store.commit();
  }
  log.markProcessed(previous);
  await store.commit();
  const eventMs = performance.now() - t0;

  const stats = store.stats();
  if (stats.arrivals !== JOINS * KEYS || stats.events !== EVENTS || stats.pendingEvents !== 0) throw new Error(`unexpected counts ${JSON.stringify(stats)}`);
  console.log(`sync=${sync} batch=${batch}`);
  console.log(`arrivals: ${JOINS * KEYS} in ${arrivalMs.toFixed(0)} ms = ${rate(JOINS * KEYS, arrivalMs)} arrivals/s`);
  console.log(`events:   ${EVENTS} appended + marked processed in ${eventMs.toFixed(0)} ms = ${rate(EVENTS, eventMs)} events/s`);
  console.log(`combined: ${rate(JOINS * KEYS + EVENTS, arrivalMs + eventMs)} operations/s; db ${(statSync(state.file).size / 2 ** 20).toFixed(1)} MiB`);
  console.log(JSON.stringify(stats));
} finally {
  state.close();
  rmSync(dir, { recursive: true, force: true });
}
