/** Step `store`: joins the main and sub-field labels and writes one row per phrase to the results table. */
import type { StepHandler } from 'joinflow/handler';
import { assembleRows, countLabels, type FieldLabels, type SubfieldLabels } from '../pipeline.ts';
import { openResultsTable } from '../results/open-results-table.ts';
import { FIELDS, type Field } from '../taxonomy.ts';
import { runIdOf } from './run-id.ts';

/** What the run returns: where the rows went, how many, and the labels. */
export type StoreOutput = {
  document: string;
  table: string;
  stored: number;
  counts: Record<string, Record<string, number>>;
  rows: Array<{ index: number; phrase: string; field: string; subfield: string }>;
};

/** Replaces the document's rows in the table (idempotent: a re-run writes the same rows). */
export const handler: StepHandler<unknown, StoreOutput> = async (event, context) => {
  const fields = event.results['classify'] as FieldLabels | undefined;
  if (fields === undefined) throw new Error('step "store" needs the results of step "classify"');
  const subfields = Object.fromEntries(FIELDS.map((f) => [f, event.results[f] as SubfieldLabels | undefined])) as Record<Field, SubfieldLabels>;
  const rows = assembleRows(fields, subfields, runIdOf(event, context));
  const table = await openResultsTable();
  try {
    await table.replaceDocument(fields.document, rows);
    return {
      document: fields.document,
      table: table.location,
      stored: rows.length,
      counts: countLabels(rows),
      rows: rows.map(({ index, phrase, field, subfield }) => ({ index, phrase, field, subfield })),
    };
  } finally {
    table.close();
  }
};
