/**
 * The run input: a document of phrases. Checked with zod here, at the edge, because it comes from
 * outside (`--input`, an uploaded file, a PutEvents entry).
 *
 * Accepted shapes: `{id?, title?, phrases: string[]}`, or `{id?, text}` (split into phrases at line
 * breaks and sentence ends). An S3 upload of a non-JSON file arrives as `{object: {key}, text}`;
 * the document id then defaults to the file name.
 */
import { z } from 'zod';

/** Most phrases per document: the step events must stay under Lambda's 256 KB async-invoke limit. */
export const MAX_PHRASES = 500;
/** Longest phrase kept, in characters. */
export const MAX_PHRASE_CHARS = 300;

const DocumentSchema = z
  .object({
    id: z.string().trim().min(1).max(200).optional(),
    title: z.string().optional(),
    phrases: z.array(z.string()).optional(),
    text: z.string().optional(),
    object: z.object({ key: z.string() }).optional(),
  })
  .refine((d) => d.phrases !== undefined || d.text !== undefined, { message: 'a document needs "phrases" (a list of strings) or "text"' });

/** A document ready to classify. */
export type Document = { id: string; phrases: string[] };

/** Thrown for input no retry can fix; the name makes joinflow (locally and on AWS) fail the step for good. */
export class BadDocumentError extends Error {
  readonly code = 'NON_RETRIABLE';
  constructor(message: string) {
    super(message);
    this.name = 'NonRetriableStepError';
  }
}

/** Validates the run input; `fallbackId` (the run id) names documents that carry no id. */
export function readDocument(input: unknown, fallbackId: string): Document {
  const parsed = DocumentSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`);
    throw new BadDocumentError(`the run input is not a document (${problems.join('; ')}); expected {"id": "...", "phrases": ["...", ...]} or {"text": "..."}`);
  }
  const d = parsed.data;
  const raw = d.phrases ?? splitText(d.text ?? '');
  const phrases = raw.map((p) => p.trim().replace(/\s+/g, ' ')).filter((p) => p.length > 0);
  if (phrases.length > MAX_PHRASES) {
    throw new BadDocumentError(`the document has ${phrases.length} phrases, over the limit of ${MAX_PHRASES}: split it into several documents`);
  }
  const tooLong = phrases.findIndex((p) => p.length > MAX_PHRASE_CHARS);
  if (tooLong >= 0) {
    throw new BadDocumentError(`phrase ${tooLong} has ${phrases[tooLong]!.length} characters, over the limit of ${MAX_PHRASE_CHARS}: phrases are short spans of text, not paragraphs`);
  }
  const fromKey = d.object?.key.split('/').pop()?.replace(/\.[^.]*$/, '');
  return { id: d.id ?? (fromKey || fallbackId), phrases };
}

/** Lines, then sentences: ". ", "? ", "! " and ";" end a phrase. */
export function splitText(text: string): string[] {
  return text.split(/\r?\n|(?<=[.?!])\s+|;/).map((s) => s.replace(/[.?!]+$/, '').trim());
}
