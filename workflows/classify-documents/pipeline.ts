/**
 * What each step of classify-documents computes, as pure functions of its inputs; the handlers
 * only add the models and the results table.
 */
import type { Classifier } from './naive-bayes.ts';
import type { ClassifiedPhrase } from './results/results-table.ts';
import { FIELDS, isField, type Field } from './taxonomy.ts';

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
