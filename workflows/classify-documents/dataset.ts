/**
 * The labelled phrase set (data/phrases.txt): parsing and the fixed train/test split. Pure; the
 * file is read by the caller.
 *
 * Format: a `[field/subfield]` header labels the lines below it; blank lines and lines starting
 * with `#` are skipped.
 */
import { TAXONOMY, isField, type Field } from './taxonomy.ts';

/** One phrase with both of its labels. */
export type LabelledPhrase = { text: string; field: Field; subfield: string; line: number };

/** Parses the phrase file; throws naming the line of the first problem. */
export function parsePhrases(text: string, file = 'phrases.txt'): LabelledPhrase[] {
  const out: LabelledPhrase[] = [];
  const seen = new Map<string, number>();
  let section: { field: Field; subfield: string } | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const where = `${file}:${i + 1}`;
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[([a-z-]+)\/([a-z-]+)\]$/.exec(line);
    if (header) {
      const [, field, subfield] = header as unknown as [string, string, string];
      if (!isField(field)) throw new Error(`${where}: unknown field "${field}" (fields: ${Object.keys(TAXONOMY).join(', ')})`);
      if (!(TAXONOMY[field] as readonly string[]).includes(subfield)) {
        throw new Error(`${where}: "${subfield}" is not a sub-field of ${field} (sub-fields: ${TAXONOMY[field].join(', ')})`);
      }
      section = { field, subfield };
      continue;
    }
    if (section === undefined) throw new Error(`${where}: a phrase before any [field/subfield] header`);
    const key = line.toLowerCase();
    const before = seen.get(key);
    if (before !== undefined) throw new Error(`${where}: the same phrase as line ${before}: a phrase must not be in two places (it could land in both splits)`);
    seen.set(key, i + 1);
    out.push({ text: line, ...section, line: i + 1 });
  }
  return out;
}

/** Every `HOLD_OUT_EVERY`-th phrase of each sub-field section is held out for testing. */
export const HOLD_OUT_EVERY = 4;

/**
 * Splits by position inside each sub-field, so the test set is stratified (every sub-field, and
 * so every field, keeps the same share) and the split never changes between runs.
 */
export function splitPhrases(phrases: readonly LabelledPhrase[]): { train: LabelledPhrase[]; test: LabelledPhrase[] } {
  const position = new Map<string, number>();
  const train: LabelledPhrase[] = [];
  const test: LabelledPhrase[] = [];
  for (const p of phrases) {
    const key = `${p.field}/${p.subfield}`;
    const n = position.get(key) ?? 0;
    position.set(key, n + 1);
    (n % HOLD_OUT_EVERY === HOLD_OUT_EVERY - 1 ? test : train).push(p);
  }
  return { train, test };
}
