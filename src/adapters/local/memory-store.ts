/**
 * In-memory TriggerStore: the default for `joinflow run` and the reference the store contract
 * suite holds every other store to. Working state of finished runs is released; only a bounded
 * number of final run records is kept, so memory does not grow with the number of runs.
 * Every method but commit and release answers synchronously (the processor needs no promise).
 */
import type { ClaimResult, JoinState, RunRecord, TriggerStore } from '../../ports.ts';
import { finishedRecord, runRecord, settledRecord } from './run-record.ts';
import { noteEarly, refusal, sizeJoin, type SizedJoin } from './sized-joins.ts';

/**
 * A join counter. Most joins see one arrival (a step after one other, a run start), so the first
 * key is kept in a field and a Set is made only for a second one.
 */
type Join = SizedJoin & { first: string | undefined; more: Set<string> | undefined; claimedAt?: number; dispatchedAt?: number };

const arrivals = (j: Join): number => (j.first === undefined ? 0 : 1 + (j.more?.size ?? 0));
/** The arrivals that count: those beyond a sized join's need do not (sized-joins.ts). */
const counted = (j: Join): number => arrivals(j) - (j.excess ?? 0);
type RunState = { record: RunRecord; joins: Map<string, Join>; results: Map<string, unknown> };

/** Options of the memory store. */
export type MemoryStoreOptions = {
  /** How many finished runs' records to remember (oldest forgotten first); default 1000. */
  keepFinished?: number;
};

/** Creates an in-memory TriggerStore. */
export function createMemoryStore(options: MemoryStoreOptions = {}): TriggerStore & { stats(): { runs: number; finished: number } } {
  const keepFinished = options.keepFinished ?? 1000;
  const runs = new Map<string, RunState>();
  const finished = new Map<string, RunRecord>();

  function join(runId: string, trigger: string): Join {
    const run = runs.get(runId);
    if (!run) throw new Error(`memory store: no working state for run "${runId}"`);
    let j = run.joins.get(trigger);
    if (!j) run.joins.set(trigger, (j = { first: undefined, more: undefined, need: undefined }));
    return j;
  }

  return {
    synchronous: true,
    startRun(start) {
      const existing = runs.get(start.runId)?.record ?? finished.get(start.runId);
      if (existing) return { created: false, run: existing };
      const record = runRecord(start, 'running');
      runs.set(start.runId, { record, joins: new Map(), results: new Map() });
      return { created: true, run: record };
    },
    getRun(runId) {
      return runs.get(runId)?.record ?? finished.get(runId);
    },
    runStatus(runId) {
      return (runs.get(runId)?.record ?? finished.get(runId))?.status;
    },
    finishRun(runId, update) {
      const run = runs.get(runId);
      if (!run || run.record.status !== 'running') return false;
      run.record = finishedRecord(run.record, update);
      return true;
    },
    settleRun(runId, finishedAt) {
      const run = runs.get(runId);
      if (run) run.record = settledRecord(run.record, finishedAt);
      const done = finished.get(runId);
      if (done) finished.set(runId, settledRecord(done, finishedAt));
    },
    arrive(runId, trigger, key, need, ordinal): JoinState {
      const j = join(runId, trigger);
      const refused = refusal(j, arrivals(j), need, ordinal);
      if (refused) return refused;
      let fresh: boolean;
      if (j.first === undefined) {
        j.first = key;
        fresh = true;
      } else if (j.first === key) {
        fresh = false;
      } else {
        j.more ??= new Set();
        fresh = !j.more.has(key);
        if (fresh) j.more.add(key);
      }
      if (fresh) noteEarly(j, need, ordinal);
      if (need !== undefined && j.need === undefined) j.need = need;
      return { fresh, count: counted(j), need: j.need };
    },
    setNeed(runId, trigger, need): JoinState {
      const j = join(runId, trigger);
      if (j.need === undefined) sizeJoin(j, need);
      return { fresh: false, count: counted(j), need: j.need };
    },
    claim(runId, trigger, now, leaseMs): ClaimResult {
      const j = join(runId, trigger);
      if (j.claimedAt === undefined) {
        j.claimedAt = now;
        return 'won';
      }
      if (j.dispatchedAt === undefined && now - j.claimedAt >= leaseMs) {
        j.claimedAt = now;
        return 'reclaimed';
      }
      return 'taken';
    },
    markDispatched(runId, trigger, now) {
      const run = runs.get(runId);
      const j = run?.joins.get(trigger);
      if (j && j.dispatchedAt === undefined) j.dispatchedAt = now;
    },
    saveResult(runId, key, output) {
      const run = runs.get(runId);
      if (run && !run.results.has(key)) run.results.set(key, output);
    },
    getResults(runId, keys) {
      const run = runs.get(runId);
      const out = new Map<string, unknown>();
      if (!run) return out;
      for (const k of keys) if (run.results.has(k)) out.set(k, run.results.get(k));
      return out;
    },
    savedKeys(runId, keys) {
      const run = runs.get(runId);
      const out = new Set<string>();
      if (run) for (const k of keys) if (run.results.has(k)) out.add(k);
      return out;
    },
    async commit() {},
    async release(runId) {
      const run = runs.get(runId);
      if (!run || run.record.status === 'running') return;
      runs.delete(runId);
      // Keep the outcome, not the input: a run's input can be large and is no longer needed.
      finished.set(runId, runRecord({ ...run.record, input: null }, run.record.status));
      if (finished.size > keepFinished) finished.delete(finished.keys().next().value!);
    },
    stats() {
      return { runs: runs.size, finished: finished.size };
    },
  };
}
