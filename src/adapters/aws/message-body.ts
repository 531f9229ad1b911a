/** SQS message bodies as the timer and the container worker read them: JSON, checked with zod. */
import type { z } from 'zod';

/** The body as JSON, or why it is not (empty, or not JSON). */
export function jsonBody(body: string | undefined): { json: unknown } | { reason: string } {
  if (body === undefined || body === '') return { reason: 'empty body' };
  try {
    return { json: JSON.parse(body) };
  } catch (error) {
    return { reason: `body is not JSON (${(error as Error).message})` };
  }
}

/** What a schema found wrong with a body, each issue with its path ("(body)" for the whole). */
export function bodyIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}
