/** What `joinflow gc` may delete of the journal store's state besides finished runs (journal-state.ts). */
import { DetailType } from '../../model/events.ts';
import type { Journal } from './journal-core.ts';
import { readRow, type StoredRow } from './journal-decode.ts';
import { NameTable } from './journal-names.ts';

/**
 * Of the runs taken on and not started (`unstarted`: rows without a status), those no pending
 * event would start any more: none of their own is pending (their Run Requested was handled
 * without starting them: dead-lettered), and no pending Run Requested of no run names them (a
 * request without a runId names its run by its event id). Pending here: on file, as this process
 * has marked them (gc commits first).
 */
export function unstartedGarbage(journal: Journal, unstarted: readonly string[]): string[] {
  if (unstarted.length === 0) return [];
  journal.loadOrphans();
  for (const runId of unstarted) journal.loadPendingOf(runId);
  const wanted = new Set<string>();
  for (const p of journal.pending.values()) {
    if (p.runId !== null) wanted.add(p.runId);
    else if (p.event['detail-type'] === DetailType.RunRequested) wanted.add(String((p.event.detail as { runId?: unknown } | undefined)?.runId ?? p.event.id));
  }
  return unstarted.filter((runId) => !wanted.has(runId));
}

/**
 * The rows of no run (events of no run, and the marks that they were processed) that can go: a
 * row with a pending event stays, and so does a row that marks an event of a row that stays (else
 * that event, read again, would be pending again), until no more rows must stay.
 */
export function orphanRowsToDelete(rows: ReadonlyArray<{ id: number; facts: StoredRow }>): number[] {
  const read = rows.map((row) => {
    const events: number[] = [];
    const open = new Set<number>();
    const marks: number[] = [];
    readRow(null, undefined, row.facts, new NameTable(), {
      event(seq, _event, processed) {
        events.push(seq);
        if (!processed) open.add(seq);
      },
      processed(seq) {
        marks.push(seq);
      },
    });
    return { id: row.id, events, open, marks };
  });
  const marked = new Set(read.flatMap((r) => r.marks));
  const kept = new Set(read.filter((r) => [...r.open].some((seq) => !marked.has(seq))));
  const keptEvents = new Set([...kept].flatMap((r) => r.events));
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of read) {
      if (kept.has(r) || !r.marks.some((seq) => keptEvents.has(seq))) continue;
      kept.add(r);
      for (const seq of r.events) keptEvents.add(seq);
      grew = true;
    }
  }
  return read.filter((r) => !kept.has(r)).map((r) => r.id);
}
