/**
 * Where classified phrases end up: a small port with a SQLite adapter (local runs) and a DynamoDB
 * adapter (AWS). One row per phrase, keyed by (document, index).
 */

/** One classified phrase of a document. */
export type ClassifiedPhrase = {
  document: string;
  index: number;
  phrase: string;
  field: string;
  fieldProbability: number;
  subfield: string;
  subfieldProbability: number;
  runId: string;
};

/** The table of classified phrases. */
export type ResultsTable = {
  /**
   * Makes `rows` the document's rows: writes them and removes rows of an earlier, longer version
   * of the document. Idempotent, because a step may run more than once (at-least-once delivery).
   */
  replaceDocument(document: string, rows: readonly ClassifiedPhrase[]): Promise<void>;
  /** The document's rows in phrase order (empty when unknown). */
  readDocument(document: string): Promise<ClassifiedPhrase[]>;
  /** Where the rows go, for the step output: `sqlite:<file>` or `dynamodb:<table>`. */
  readonly location: string;
  close(): void;
};

/** Rejects rows that do not belong to `document` or are not numbered 0..n-1 (a bug upstream). */
export function checkRows(document: string, rows: readonly ClassifiedPhrase[]): void {
  rows.forEach((row, i) => {
    if (row.document !== document) throw new Error(`results table: row ${i} belongs to document "${row.document}", not "${document}"`);
    if (row.index !== i) throw new Error(`results table: row ${i} has index ${row.index}; rows must be numbered 0..n-1 in order`);
  });
}
