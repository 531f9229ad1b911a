/** Reading a journal state file in tests, with the store's own codec (journal-codec.ts). */
import type Database from 'better-sqlite3';
import { NameTable, planVocabulary } from '../../src/adapters/local/journal-names.ts';
import { readRow, rowNames, type StoredRow } from '../../src/adapters/local/journal-decode.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import type { EventEnvelope } from '../../src/model/events.ts';

type Db = InstanceType<typeof Database>;

/** What the journal on file says, decoded run by run with the store's own codec. */
export function journal(db: Db, runId?: string) {
  const arrivals = new Map<string, string[]>();
  const events = new Map<string, EventEnvelope[]>();
  const tasks: Array<{ runId: string; step: string; item: number; attempt: number; status: string; started: boolean }> = [];
  const taskAt = new Map<string, (typeof tasks)[number]>();
  const tables = new Map<string, NameTable>();
  // A run's Run Requested (and most tasks) refer to the input in its row instead of holding it.
  const inputs = new Map<string, unknown>();
  const rows = runId === undefined
    ? db.prepare('SELECT run_id, facts FROM journal WHERE run_id IS NOT NULL ORDER BY id').all()
    : db.prepare('SELECT run_id, facts FROM journal WHERE run_id = ? ORDER BY id').all(runId);
  for (const row of rows as Array<{ run_id: string; facts: StoredRow }>) {
    const runId = row.run_id;
    if (!tables.has(runId)) {
      tables.set(runId, startTable(db, runId, row.facts));
      inputs.set(runId, runInput(db, runId));
    }
    readRow(runId, inputs.get(runId), row.facts, tables.get(runId)!, {
      arrive: (trigger, key) => arrivals.set(`${runId} ${trigger}`, [...(arrivals.get(`${runId} ${trigger}`) ?? []), key]),
      event: (_seq, event) => events.set(runId, [...(events.get(runId) ?? []), event]),
      task: (t) => {
        const entry = { runId, step: t.step, item: t.item ?? -1, attempt: t.attempt, status: 'dispatched', started: false };
        tasks.push(entry);
        taskAt.set(`${runId} ${t.step}#${t.item ?? -1}@${t.attempt}`, entry);
      },
      started: (step, item, attempt) => {
        const e = taskAt.get(`${runId} ${step}#${item ?? -1}@${attempt}`);
        if (e && e.status === 'dispatched') {
          e.status = 'started';
          e.started = true;
        }
      },
      finished: (step, item, attempt, status) => {
        const e = taskAt.get(`${runId} ${step}#${item ?? -1}@${attempt}`);
        if (e && (e.status === 'dispatched' || e.status === 'started')) e.status = status;
      },
    });
  }
  return { arrivals, events, tasks };
}


/** A run's name table before its first row: from its plan's vocabulary when that row says so. */
function startTable(db: Db, runId: string, first: StoredRow): NameTable {
  if (rowNames(first).base === 0) return new NameTable();
  const json = db.prepare<[string], string>('SELECT p.json FROM runs r JOIN plans p ON p.hash = r.plan_hash WHERE r.run_id = ?').pluck().get(runId);
  if (json === undefined) throw new Error(`run ${runId}: its rows start after a plan's names, but it has no plan on file`);
  return new NameTable(planVocabulary(JSON.parse(json) as TriggerPlan));
}

/** A run's input as the file has it: in run_inputs (schema 7), else in its row (null: no row, or none). */
function runInput(db: Db, runId: string): unknown {
  const apart = db.prepare<[], number>(`SELECT count(*) FROM sqlite_schema WHERE name = 'run_inputs'`).pluck().get()! > 0;
  const json = (apart ? db.prepare<[string], string>('SELECT input FROM run_inputs WHERE run_id = ?').pluck().get(runId) : undefined) ?? db.prepare<[string], string | null>('SELECT input FROM runs WHERE run_id = ?').pluck().get(runId);
  return json === undefined || json === null ? null : JSON.parse(json);
}
