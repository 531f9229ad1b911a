/**
 * Write-behind for the hottest writes of the SQLite store: join arrivals, counters and fire
 * claims, and step results. One process writes a state dir (SQLite's lock enforces it), so an
 * in-memory mirror of the joins of running runs is authoritative while the process lives; its
 * changes are written in multi-row statements right before the batch's COMMIT, in the same
 * transaction. A crash loses the mirror and the uncommitted transaction together: what is
 * durable stays consistent.
 *
 * A run created by this process (`own`) has nothing on file that the mirror lacks, so its joins
 * are never read back; and when it ends before any of its rows were written, its buffered rows
 * are dropped instead of written and deleted (`release`).
 */
import type Database from 'better-sqlite3';
import type { ClaimResult, JoinState } from '../../ports.ts';
import { noteEarly, refusal, sizeJoin, type SizedJoin } from './sized-joins.ts';

type Mirror = SizedJoin & {
  arrived: Set<string>;
  cnt: number;
  claimedAt: number | null;
  dispatchedAt: number | null;
  dirty: boolean;
  fresh: string[];
  seq: number;
};

/** Rows per multi-row statement: well under SQLite's limit of 32,766 bound parameters. */
const CHUNK = 250;

/** The write-behind join and result state of one database. */
export function createJoinMirror(db: Database.Database) {
  const runs = new Map<string, Map<string, Mirror>>();
  const dirty: Array<[string, string, Mirror]> = [];
  /** Results of runs touched in this process: key -> output JSON (null: saved `undefined`). */
  const runResults = new Map<string, { values: Map<string, string | null>; fresh: Array<[string, string | null]>; seq: number }>();
  const dirtyResults = new Set<string>();

  // Runs this process created (nothing of them on file but what the mirror wrote), and those of
  // them that have rows on file.
  const owned = new Set<string>();
  const written = new Set<string>();

  const readJoin = db
    .prepare<[string, string], [number, number | null, number | null, number | null]>('SELECT cnt, need, claimed_at, dispatched_at FROM joins WHERE run_id = ? AND trig = ?')
    .raw();
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
            : // Every column is the mirror's, which was loaded from the row.
              `INSERT INTO joins (run_id, trig, need, cnt, claimed_at, dispatched_at) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?)').join(', ')}
               ON CONFLICT (run_id, trig) DO UPDATE SET cnt = excluded.cnt, need = excluded.need,
               claimed_at = excluded.claimed_at, dispatched_at = excluded.dispatched_at`;
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
      const row = owned.has(runId) ? undefined : readJoin.get(runId, trig);
      const chunks = row ? readKeys.all(runId, trig) : [];
      const arrived = new Set<string>();
      for (const [, keys] of chunks) for (const k of JSON.parse(keys) as string[]) arrived.add(k);
      const seq = chunks.reduce((max, [s]) => Math.max(max, s + 1), 0);
      m = { arrived, cnt: row?.[0] ?? 0, need: row?.[1] ?? undefined, claimedAt: row?.[2] ?? null, dispatchedAt: row?.[3] ?? null, dirty: false, fresh: [], seq };
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
      for (const [s, pairs] of owned.has(runId) ? [] : readResults.all(runId)) {
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
    /** A run this process just created: nothing of it is on file. */
    own(runId: string): void {
      owned.add(runId);
    },
    arrive(runId: string, trig: string, key: string, need: number | undefined, ordinal: number | undefined): JoinState {
      const m = mirror(runId, trig);
      const refused = refusal(m, m.cnt, need, ordinal);
      if (refused) return refused;
      const fresh = !m.arrived.has(key);
      if (fresh) {
        m.arrived.add(key);
        m.cnt++;
        m.fresh.push(key);
        noteEarly(m, need, ordinal);
        touch(runId, trig, m);
      }
      if (need !== undefined && m.need === undefined) {
        m.need = need;
        touch(runId, trig, m);
      }
      return { fresh, count: m.cnt - (m.excess ?? 0), need: m.need };
    },
    setNeed(runId: string, trig: string, need: number): JoinState {
      const m = mirror(runId, trig);
      if (m.need === undefined) {
        sizeJoin(m, need);
        touch(runId, trig, m);
      }
      return { fresh: false, count: m.cnt - (m.excess ?? 0), need: m.need };
    },
    /** Claims a trigger's single fire; a claim never dispatched within `leaseMs` is taken over. */
    claim(runId: string, trig: string, now: number, leaseMs: number): ClaimResult {
      const m = mirror(runId, trig);
      let result: ClaimResult;
      if (m.claimedAt === null) result = 'won';
      else if (m.dispatchedAt === null && now - m.claimedAt >= leaseMs) result = 'reclaimed';
      else return 'taken';
      m.claimedAt = now;
      touch(runId, trig, m);
      return result;
    },
    markDispatched(runId: string, trig: string, now: number): void {
      const m = mirror(runId, trig);
      if (m.dispatchedAt !== null) return;
      m.dispatchedAt = now;
      touch(runId, trig, m);
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
    /** Whether a result is saved (its JSON not parsed). */
    hasResult(runId: string, key: string): boolean {
      return resultsOf(runId).values.has(key);
    },
    /** Writes the buffers (call inside the transaction, before COMMIT). */
    flush(): void {
      if (dirty.length > 0) {
        const rows: unknown[] = [];
        const chunks: unknown[] = [];
        for (const [runId, trig, m] of dirty) {
          if (owned.has(runId)) written.add(runId);
          rows.push(runId, trig, m.need ?? null, m.cnt, m.claimedAt, m.dispatchedAt);
          if (m.fresh.length > 0) {
            chunks.push(runId, trig, m.seq++, m.fresh.length, JSON.stringify(m.fresh));
            m.fresh = [];
          }
          m.dirty = false;
        }
        if (chunks.length > 0) write('arrivals', chunks, 5);
        write('joins', rows, 6);
      }
      if (dirtyResults.size > 0) {
        const rows: unknown[] = [];
        for (const runId of dirtyResults) {
          if (owned.has(runId)) written.add(runId);
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
      owned.clear();
      written.clear();
      runs.clear();
      dirty.length = 0;
      runResults.clear();
      dirtyResults.clear();
    },
    /**
     * A finished run's joins leave memory, and its buffered changes are dropped: nothing will
     * read them again. Returns false when nothing of the run can be on file (no DELETE needed).
     */
    release(runId: string): boolean {
      const onFile = !owned.has(runId) || written.has(runId);
      owned.delete(runId);
      written.delete(runId);
      if (runs.delete(runId) && dirty.length > 0) {
        let kept = 0;
        for (const d of dirty) if (d[0] !== runId) dirty[kept++] = d;
        dirty.length = kept;
      }
      runResults.delete(runId);
      dirtyResults.delete(runId);
      return onFile;
    },
  };
}
