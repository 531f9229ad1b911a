/**
 * Write-behind for the hottest writes of the SQLite store: join arrivals, join counters and step
 * results. One process writes a state dir (SQLite's lock enforces it), so an in-memory mirror of
 * the joins of running runs is authoritative while the process lives; its changes are written
 * in multi-row statements right before the batch's COMMIT, in the same transaction. A crash
 * loses the mirror and the uncommitted transaction together: what is durable stays consistent.
 */
import type Database from 'better-sqlite3';
import type { JoinState } from '../../ports.ts';

type Mirror = { arrived: Set<string>; cnt: number; need: number | undefined; dirty: boolean; fresh: string[]; seq: number };

/** Rows per multi-row statement: well under SQLite's limit of 32,766 bound parameters. */
const CHUNK = 250;

/** The write-behind join and result state of one database. */
export function createJoinMirror(db: Database.Database) {
  const runs = new Map<string, Map<string, Mirror>>();
  const dirty: Array<[string, string, Mirror]> = [];
  /** Results of runs touched in this process: key -> output JSON (null: saved `undefined`). */
  const runResults = new Map<string, { values: Map<string, string | null>; fresh: Array<[string, string | null]>; seq: number }>();
  const dirtyResults = new Set<string>();

  const readJoin = db.prepare<[string, string], [number, number | null]>('SELECT cnt, need FROM joins WHERE run_id = ? AND trig = ?').raw();
  const readKeys = db.prepare<[string, string], [number, string]>('SELECT seq, keys FROM arrivals WHERE run_id = ? AND trig = ?').raw();
  const readResults = db.prepare<[string], [number, string]>('SELECT seq, pairs FROM results WHERE run_id = ? ORDER BY seq').raw();
  const statements = new Map<string, Database.Statement>();
  const multi = (kind: 'arrivals' | 'joins' | 'results', rows: number): Database.Statement => {
    const key = `${kind}:${rows}`;
    let st = statements.get(key);
    if (!st) {
      const sql =
        kind === 'arrivals'
          ? `INSERT INTO arrivals (run_id, trig, seq, n, keys) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?)').join(', ')}`
          : kind === 'results'
            ? `INSERT INTO results (run_id, seq, n, pairs) VALUES ${Array(rows).fill('(?, ?, ?, ?)').join(', ')}`
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
      const chunks = row ? readKeys.all(runId, trig) : [];
      const arrived = new Set<string>();
      for (const [, keys] of chunks) for (const k of JSON.parse(keys) as string[]) arrived.add(k);
      const seq = chunks.reduce((max, [s]) => Math.max(max, s + 1), 0);
      m = { arrived, cnt: row?.[0] ?? 0, need: row?.[1] ?? undefined, dirty: false, fresh: [], seq };
      run.set(trig, m);
    }
    return m;
  }

  function resultsOf(runId: string) {
    let r = runResults.get(runId);
    if (!r) {
      // First touch in this process: load what is durable; earlier chunks win, like first writes.
      const values = new Map<string, string | null>();
      let seq = 0;
      for (const [s, pairs] of readResults.all(runId)) {
        for (const [k, v] of JSON.parse(pairs) as Array<[string, string | null]>) if (!values.has(k)) values.set(k, v);
        seq = s + 1;
      }
      runResults.set(runId, (r = { values, fresh: [], seq }));
    }
    return r;
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
        m.fresh.push(key);
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
    /** First write wins: a result the run already has (buffered or committed) is kept. */
    saveResult(runId: string, key: string, json: string | null): void {
      const r = resultsOf(runId);
      if (r.values.has(key)) return;
      r.values.set(key, json);
      r.fresh.push([key, json]);
      dirtyResults.add(runId);
    },
    /** The stored result of a key, if any. */
    readResult(runId: string, key: string): [string | null] | undefined {
      const r = resultsOf(runId);
      return r.values.has(key) ? [r.values.get(key)!] : undefined;
    },
    /** Writes the buffers (call inside the transaction, before COMMIT). */
    flush(): void {
      if (dirty.length > 0) {
        const rows: unknown[] = [];
        const chunks: unknown[] = [];
        for (const [runId, trig, m] of dirty) {
          rows.push(runId, trig, m.need ?? null, m.cnt);
          if (m.fresh.length > 0) {
            chunks.push(runId, trig, m.seq++, m.fresh.length, JSON.stringify(m.fresh));
            m.fresh = [];
          }
          m.dirty = false;
        }
        if (chunks.length > 0) write('arrivals', chunks, 5);
        write('joins', rows, 4);
      }
      if (dirtyResults.size > 0) {
        const rows: unknown[] = [];
        for (const runId of dirtyResults) {
          const r = runResults.get(runId)!;
          rows.push(runId, r.seq++, r.fresh.length, JSON.stringify(r.fresh));
          r.fresh = [];
        }
        write('results', rows, 4);
        dirtyResults.clear();
      }
      dirty.length = 0;
    },
    /** After a rollback nothing buffered or mirrored can be trusted: start from the database. */
    reset(): void {
      runs.clear();
      dirty.length = 0;
      runResults.clear();
      dirtyResults.clear();
    },
    /** A finished run's joins leave memory (call after flush: its rows are being deleted). */
    forget(runId: string): void {
      runs.delete(runId);
      runResults.delete(runId);
    },
  };
}
