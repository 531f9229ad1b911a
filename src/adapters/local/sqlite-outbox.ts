/**
 * The outbox of subscription deliveries (delivery-outbox.ts) in the state database: the pairs
 * are written in the transaction of the batch that processed the event, so a crash loses none
 * and a redelivered event (same id) adds none.
 */
import type Database from 'better-sqlite3';
import type { EventEnvelope } from '../../model/events.ts';
import type { Delivery, DeliveryOutbox } from './delivery-outbox.ts';
import type { Batch } from './sqlite-batch.ts';

/** The deliveries table; created on first use, so older state files gain it without a migration. */
const DDL = `CREATE TABLE IF NOT EXISTS deliveries (
  subscription TEXT NOT NULL, event_id TEXT NOT NULL, json TEXT, status TEXT NOT NULL,
  attempt INTEGER NOT NULL, due_at INTEGER NOT NULL, last_error TEXT, updated_at INTEGER NOT NULL,
  PRIMARY KEY (subscription, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (due_at) WHERE status = 'pending';`;

type Row = { subscription: string; json: string; attempt: number; due_at: number; last_error: string | null };

/** The outbox in the state database, writing inside the engine's group-commit `batch`. */
export function createSqliteOutbox(db: Database.Database, batch: Batch): DeliveryOutbox {
  db.exec(DDL);
  const s = {
    insert: db.prepare<[string, string, string, number, number, number]>(
      `INSERT OR IGNORE INTO deliveries (subscription, event_id, json, status, attempt, due_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?)`,
    ),
    pending: db.prepare<[], Row>(`SELECT subscription, json, attempt, due_at, last_error FROM deliveries WHERE status = 'pending' ORDER BY due_at`),
    // The event is not needed once finished: only the key stays, to recognise a late duplicate.
    finish: db.prepare<[string, number, number, string | null, string, string]>(
      `UPDATE deliveries SET status = ?, json = NULL, attempt = ?, updated_at = ?, last_error = ? WHERE subscription = ? AND event_id = ?`,
    ),
    reschedule: db.prepare<[number, number, string | null, number, string, string]>(
      `UPDATE deliveries SET attempt = ?, due_at = ?, last_error = ?, updated_at = ? WHERE subscription = ? AND event_id = ? AND status = 'pending'`,
    ),
    prune: db.prepare<[number]>(`DELETE FROM deliveries WHERE status != 'pending' AND updated_at < ?`),
  };
  return {
    enqueue(deliveries) {
      if (deliveries.length === 0) return [];
      batch.write();
      const now = Date.now();
      return deliveries.filter((d) => s.insert.run(d.subscription, d.event.id, JSON.stringify(d.event), d.attempt, d.dueAt, now).changes > 0);
    },
    pending() {
      return s.pending.all().map((r) => {
        const d: Delivery = { subscription: r.subscription, event: JSON.parse(r.json) as EventEnvelope, attempt: r.attempt, dueAt: r.due_at };
        if (r.last_error !== null) d.lastError = r.last_error;
        return d;
      });
    },
    delivered(d) {
      batch.write();
      s.finish.run('delivered', d.attempt, Date.now(), d.lastError ?? null, d.subscription, d.event.id);
    },
    reschedule(d) {
      batch.write();
      s.reschedule.run(d.attempt, d.dueAt, d.lastError ?? null, Date.now(), d.subscription, d.event.id);
    },
    dead(d) {
      batch.write();
      s.finish.run('dead', d.attempt, Date.now(), d.lastError ?? null, d.subscription, d.event.id);
    },
    prune(before) {
      batch.write();
      return s.prune.run(before).changes;
    },
    commit: () => batch.commit(),
  };
}
