/** The results table in a SQLite file (local runs). */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { checkRows, type ClassifiedPhrase, type ResultsTable } from './results-table.ts';

/** Name of the table inside the database file. */
export const SQLITE_TABLE = 'classified_phrases';

type Row = {
  document: string;
  idx: number;
  phrase: string;
  field: string;
  field_probability: number;
  subfield: string;
  subfield_probability: number;
  run_id: string;
};

/** Opens (creating if needed) the database file and its table. */
export function createSqliteResultsTable(file: string): ResultsTable {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  // Several runs may store at once (the engine runs steps in worker threads): WAL lets readers go
  // on while one writes, and the busy timeout makes a second writer wait instead of failing.
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(`CREATE TABLE IF NOT EXISTS ${SQLITE_TABLE} (
    document TEXT NOT NULL,
    idx INTEGER NOT NULL,
    phrase TEXT NOT NULL,
    field TEXT NOT NULL,
    field_probability REAL NOT NULL,
    subfield TEXT NOT NULL,
    subfield_probability REAL NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (document, idx)
  ) WITHOUT ROWID`);
  const remove = db.prepare(`DELETE FROM ${SQLITE_TABLE} WHERE document = ?`);
  const insert = db.prepare(`INSERT INTO ${SQLITE_TABLE} (document, idx, phrase, field, field_probability, subfield, subfield_probability, run_id)
    VALUES (@document, @index, @phrase, @field, @fieldProbability, @subfield, @subfieldProbability, @runId)`);
  const select = db.prepare(`SELECT * FROM ${SQLITE_TABLE} WHERE document = ? ORDER BY idx`);
  const replace = db.transaction((document: string, rows: readonly ClassifiedPhrase[]) => {
    remove.run(document);
    for (const row of rows) insert.run(row);
  });
  return {
    location: `sqlite:${file}`,
    async replaceDocument(document, rows) {
      checkRows(document, rows);
      replace.immediate(document, rows);
    },
    async readDocument(document) {
      return (select.all(document) as Row[]).map((r) => ({
        document: r.document,
        index: r.idx,
        phrase: r.phrase,
        field: r.field,
        fieldProbability: r.field_probability,
        subfield: r.subfield,
        subfieldProbability: r.subfield_probability,
        runId: r.run_id,
      }));
    },
    close() {
      db.close();
    },
  };
}
