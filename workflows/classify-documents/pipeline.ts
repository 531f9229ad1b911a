/**
 * What each step of classify-documents computes, as pure functions of its inputs; the handlers
 * only add the models and the results table.
 */
import { BadDocumentError, MAX_PHRASES } from './document.ts';
import type { Classifier } from './naive-bayes.ts';
import type { ClassifiedPhrase } from './results/results-table.ts';
import { FIELDS, isField, TAXONOMY, type Field } from './taxonomy.ts';

/** Output of the main step: every phrase with its field. */
export type FieldLabels = {
  document: string;
  phrases: Array<{ index: number; text: string; field: Field; probability: number }>;
};

/** Output of a sub-field step: the phrases of its field with their sub-field (by phrase index). */
export type SubfieldLabels = {
  field: Field;
  phrases: Array<{ index: number; subfield: string; probability: number }>;
};

/** Probabilities are rounded: the outputs travel in events and the rows are read by people. */
const round = (p: number) => Math.round(p * 10_000) / 10_000;

/** Labels every phrase with a field. */
export function labelFields(document: { id: string; phrases: readonly string[] }, classifier: Classifier): FieldLabels {
  return {
    document: document.id,
    phrases: document.phrases.map((text, index) => {
      const { label, probability } = classifier.predict(text);
      if (!isField(label)) throw new Error(`the field model predicted "${label}", which is not a field (${FIELDS.join(', ')}): retrain the models`);
      return { index, text, field: label, probability: round(probability) };
    }),
  };
}

/** Lambda's limit on an asynchronous invocation's payload: on AWS every step event must fit in it. */
export const STEP_EVENT_LIMIT = 256 * 1024;
/** Room for what joinflow adds to a step event besides the run input and the results (its metadata, the keys). */
const EVENT_OVERHEAD = 2048;
/** The longest entry a sub-field step can output for one phrase (with its comma). */
const SUBFIELD_ENTRY_BYTES =
  JSON.stringify({ index: MAX_PHRASES, subfield: Object.values(TAXONOMY).flat().reduce((a, b) => (b.length > a.length ? b : a), ''), probability: 0.1234 }).length + 1;

/**
 * An upper bound of the largest step event of a run, store's: the run input, the field labels and
 * the four sub-field outputs. The sub-field steps' events (input and field labels) are smaller.
 */
export function storeEventBytes(input: unknown, fields: FieldLabels): number {
  return Buffer.byteLength(JSON.stringify(input) ?? '') + Buffer.byteLength(JSON.stringify(fields)) + fields.phrases.length * SUBFIELD_ENTRY_BYTES + EVENT_OVERHEAD;
}

/**
 * Refuses a document whose step events would not fit Lambda's limit. The phrase limits alone do
 * not ensure it: the events carry the document twice (the input and the labelled phrases), and a
 * character may take up to 4 bytes of UTF-8 (or 6 of JSON for a control character).
 */
export function checkEventSize(input: unknown, fields: FieldLabels): void {
  const bytes = storeEventBytes(input, fields);
  if (bytes > STEP_EVENT_LIMIT) {
    throw new BadDocumentError(
      `the document is too large for the step events: step "store" would get about ${bytes} bytes (the document, and its ${fields.phrases.length} phrases labelled), ` +
        `over Lambda's ${STEP_EVENT_LIMIT / 1024} KB asynchronous invocation limit: split it into several documents`,
    );
  }
}

/** Labels the phrases of `field` with a sub-field; none of that field gives an empty list. */
export function labelSubfields(field: Field, fields: FieldLabels, classifier: Classifier): SubfieldLabels {
  return {
    field,
    phrases: fields.phrases
      .filter((p) => p.field === field)
      .map((p) => {
        const { label, probability } = classifier.predict(p.text);
        return { index: p.index, subfield: label, probability: round(probability) };
      }),
  };
}

/** Joins the main labels with the four sub-field outputs into table rows, in phrase order. */
export function assembleRows(fields: FieldLabels, subfields: Partial<Record<Field, SubfieldLabels>>, runId: string): ClassifiedPhrase[] {
  const byIndex = new Map<number, { subfield: string; probability: number; from: Field }>();
  for (const field of FIELDS) {
    const out = subfields[field];
    if (out === undefined) throw new Error(`the results of sub-field step "${field}" are missing`);
    for (const p of out.phrases) byIndex.set(p.index, { subfield: p.subfield, probability: p.probability, from: field });
  }
  return fields.phrases.map((p) => {
    const sub = byIndex.get(p.index);
    // Each phrase goes to exactly the step of its field; anything else means the steps disagree.
    if (sub === undefined || sub.from !== p.field) {
      throw new Error(`phrase ${p.index} is labelled ${p.field} but ${sub ? `step "${sub.from}"` : 'no sub-field step'} classified it`);
    }
    return {
      document: fields.document,
      index: p.index,
      phrase: p.text,
      field: p.field,
      fieldProbability: p.probability,
      subfield: sub.subfield,
      subfieldProbability: sub.probability,
      runId,
    };
  });
}

/** Rows per field and sub-field, for the run output. */
export function countLabels(rows: readonly ClassifiedPhrase[]): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const r of rows) {
    const perField = (counts[r.field] ??= {});
    perField[r.subfield] = (perField[r.subfield] ?? 0) + 1;
  }
  return counts;
}
