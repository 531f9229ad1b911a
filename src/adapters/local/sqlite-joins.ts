/**
 * Write-behind for the hottest writes of the SQLite store: join arrivals, join counters and step
 * results. One process writes a state dir (SQLite's lock enforces it), so an in-memory mirror of
 * the joins of running runs is authoritative while the process lives; its changes are written
 * in multi-row statements right before the batch's COMMIT, in the same transaction. A crash
 * loses the mirror and the uncommitted transaction together: what is durable stays consistent.
 */
import type Database from 'better-sqlite3';
import type { JoinState } from '../../ports.ts';

type Mirror = { arrived: Set<string>; cnt: number; need: number | undefined; dirty: boolean };

/** Rows per multi-row statement: well under SQLite's limit of 32,766 bound parameters. */
const CHUNK = 250;

/** The write-behind join and result state of one database. */
export function createJoinMirror(db: Database.Database) {
  const runs = new Map<string, Map<string, Mirror>>();
  let arrivals: string[] = [];
  const dirty: Array<[string, string, Mirror]> = [];
  let results = new Map<string, [string, string, string | null]>();

  const readJoin = db.prepare<[string, string], [number, number | null]>('SELECT cnt, need FROM joins WHERE run_id = ? AND trig = ?').raw();
  const readKeys = db.prepare<[string, string], string>('SELECT key FROM arrivals WHERE run_id = ? AND trig = ?').pluck();
  const readResult = db.prepare<[string, string], [string | null]>('SELECT output FROM results WHERE run_id = ? AND key = ?').raw();
  const statements = new Map<string, Database.Statement>();
  const multi = (kind: 'arrivals' | 'joins' | 'results', rows: number): Database.Statement => {
    const key = `${kind}:${rows}`;
    let st = statements.get(key);
    if (!st) {
      const sql =
        kind === 'arrivals'
          ? `INSERT OR IGNORE INTO arrivals (run_id, trig, key) VALUES ${Array(rows).fill('(?, ?, ?)').join(', ')}`
          : kind === 'results'
            ? `INSERT OR IGNORE INTO results (run_id, key, output) VALUES ${Array(rows).fill('(?, ?, ?)').join(', ')}`
            : // The counter is absolute (the mirror's); claim columns written directly are left alone.
              `INSERT INTO joins (run_id, trig, need, cnt) VALUES ${Array(rows).fill('(?, ?, ?, ?)').join(', ')}
               ON CONFLICT (run_id, trig) DO UPDATE SET cnt = excluded.cnt, need = coalesce(joins.need, excluded.need)`;
      statements.set(key, (st = db.prepare(sql)));
    }
    return st;
  };
  const write = (kind: 'arrivals' | 'joins' | 'results', values: unknown[], width: number) => {
    for (let i = 0; i < values.length; i += CHUNK * width) {
      const part = values.slice(i, i + CHUNK * width);
      multi(kind, part.length / width).run(...part);
    }
  };

  function mirror(runId: string, trig: string): Mirror {
    let run = runs.get(runId);
    if (!run) runs.set(runId, (run = new Map()));
    let m = run.get(trig);
    if (!m) {
      // First touch in this process (e.g. after a restart): load what is durable.
      const row = readJoin.get(runId, trig);
      m = { arrived: new Set(row ? readKeys.all(runId, trig) : []), cnt: row?.[0] ?? 0, need: row?.[1] ?? undefined, dirty: false };
      run.set(trig, m);
    }
    return m;
  }

  const touch = (runId: string, trig: string, m: Mirror) => {
    if (m.dirty) return;
    m.dirty = true;
    dirty.push([runId, trig, m]);
  };

  return {
    arrive(runId: string, trig: string, key: string, need: number | undefined): JoinState {
      const m = mirror(runId, trig);
      const fresh = !m.arrived.has(key);
      if (fresh) {
        m.arrived.add(key);
        m.cnt++;
        arrivals.push(runId, trig, key);
        touch(runId, trig, m);
      }
      if (need !== undefined && m.need === undefined) {
        m.need = need;
        touch(runId, trig, m);
      }
      return { fresh, count: m.cnt, need: m.need };
    },
    setNeed(runId: string, trig: string, need: number): JoinState {
      const m = mirror(runId, trig);
      if (m.need === undefined) {
        m.need = need;
        touch(runId, trig, m);
      }
      return { fresh: false, count: m.cnt, need: m.need };
    },
    /** First write wins: an earlier buffered result, or a committed one, is kept (INSERT OR IGNORE). */
    saveResult(runId: string, key: string, json: string | null): void {
      const k = `${runId}\u0000${key}`;
      if (!results.has(k)) results.set(k, [runId, key, json]);
    },
    /** The stored result: committed rows first (they were written first), then buffered ones. */
    readResult(runId: string, key: string): [string | null] | undefined {
      const row = readResult.get(runId, key);
      if (row) return row;
      const buffered = results.get(`${runId}\u0000${key}`);
      return buffered ? [buffered[2]] : undefined;
    },
    /** Writes the buffers (call inside the transaction, before COMMIT). */
    flush(): void {
      if (arrivals.length > 0) write('arrivals', arrivals, 3);
      if (dirty.length > 0) {
        const rows: unknown[] = [];
        for (const [runId, trig, m] of dirty) {
          rows.push(runId, trig, m.need ?? null, m.cnt);
          m.dirty = false;
        }
        write('joins', rows, 4);
      }
      if (results.size > 0) write('results', [...results.values()].flat(), 3);
      arrivals = [];
      dirty.length = 0;
      results = new Map();
    },
    /** After a rollback nothing buffered or mirrored can be trusted: start from the database. */
    reset(): void {
      runs.clear();
      arrivals = [];
      dirty.length = 0;
      results = new Map();
    },
    /** A finished run's joins leave memory (call after flush: its rows are being deleted). */
    forget(runId: string): void {
      runs.delete(runId);
    },
  };
}
