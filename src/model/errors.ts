/** Base class of every error joinflow raises on purpose; `code` is stable and machine-readable. */
export class JoinflowError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One thing wrong with a workflow definition, with the path of the offending field. */
export type Problem = { path: string; message: string };

/** A workflow definition that cannot compile; lists every problem, not just the first. */
export class WorkflowDefinitionError extends JoinflowError {
  readonly problems: Problem[];
  readonly file: string | undefined;
  constructor(problems: Problem[], file?: string) {
    const where = file ? `${file}: ` : '';
    const lines = problems.map((p) => `  - ${p.path ? `${p.path}: ` : ''}${p.message}`);
    super(
      'WORKFLOW_DEFINITION',
      `${where}invalid workflow definition (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    );
    this.problems = problems;
    this.file = file;
  }
}

/** Thrown by a step handler to fail the step without retrying it. */
export class NonRetriableStepError extends JoinflowError {
  constructor(message: string, options?: ErrorOptions) {
    super('NON_RETRIABLE', message, options);
  }
}

/**
 * A stored result (or run output) kept by reference, in S3, that cannot be read: the object is
 * gone, damaged or out of reach. No retry reads it; the trigger that needs it is dead-lettered.
 */
export class UnreadableResultError extends JoinflowError {
  constructor(message: string, options?: ErrorOptions) {
    super('RESULT_UNREADABLE', message, options);
  }
}

/** Bad command-line usage or input (exit code 2). */
export class UsageError extends JoinflowError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/**
 * Text with its control characters (C0, DEL, C1), the noncharacters U+FFFE/U+FFFF and lone
 * surrogates written as `\uXXXX`: names from a trace file or an event reach a terminal (where an
 * escape sequence would act) and an SVG file (which XML cannot hold them in: no viewer would
 * open it). `lines` keeps line breaks and tabs (a message of several lines).
 */
export function visible(text: string, options: { lines?: boolean } = {}): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => (options.lines && (c === '\n' || c === '\t') ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/**
 * One key of a problem's path as printed: a key with a control character (a NUL, a line break)
 * is quoted as JSON, so that the message shows it instead of carrying it raw to the terminal.
 */
export function pathKey(key: PropertyKey): string {
  const s = String(key);
  return /[\u0000-\u001f\u007f]/.test(s) ? JSON.stringify(s) : s;
}

/** A zod issue as issueMessage reads it. */
type Issue = {
  code?: string; message: string; path?: ReadonlyArray<PropertyKey>; expected?: unknown; issues?: ReadonlyArray<{ message: string }>; options?: unknown; values?: unknown;
  origin?: unknown; minimum?: unknown; maximum?: unknown; inclusive?: unknown;
};

/** A bound as messages show it: 300000 as 300,000. */
const words = (n: unknown): string => (typeof n === 'number' && Number.isSafeInteger(n) ? n.toLocaleString('en-US') : String(n));

/** The value at `path` in `input` (undefined where the path leaves it). */
export function valueAt(input: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let value: unknown = input;
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return value;
}

/**
 * The message of a zod issue, for people: a record key that fails its schema says why (zod's
 * own message is only "Invalid key in record"), and a field left out is called required (zod
 * says "Invalid input: expected number, received undefined"; for a field of a fixed set of
 * values, an executor's `type` or an enum, it says "Invalid discriminator value" or "Invalid
 * option" as for a wrong value: given `input`, the parsed value, a missing one is told apart).
 */
export function issueMessage(issue: Issue, input?: unknown): string {
  if (issue.code === 'invalid_type' && typeof issue.expected === 'string' && issue.message.endsWith('received undefined')) {
    return `is required (${issue.expected === 'nonoptional' ? 'a value' : `expected ${issue.expected}`})`;
  }
  const given = input !== undefined && issue.path ? valueAt(input, issue.path) : undefined;
  // A field whose schema words its own error (`url: must be an http:// or https:// URL`) said so when it was left out too.
  if (issue.code === 'invalid_type' && input !== undefined && issue.path && given === undefined) return `is required (${issue.message})`;
  // zod's own "Too small: expected number to be >0" (not a schema's words): the bound in words, and the value given;
  // also the safe-integer range of an .int() field ("Too big: expected int to be <=9007199254740991").
  if ((issue.code === 'too_small' || issue.code === 'too_big') && (issue.origin === 'number' || issue.origin === 'int') && /^Too (small|big): /.test(issue.message)) {
    const small = issue.code === 'too_small';
    const bound = words(small ? issue.minimum : issue.maximum);
    const relation = small ? (issue.inclusive ? 'at least' : 'greater than') : issue.inclusive ? 'at most' : 'less than';
    return `must be ${relation} ${bound}${typeof given === 'number' ? ` (got ${given})` : ''}`;
  }
  const choices = issue.code === 'invalid_union' ? issue.options : issue.code === 'invalid_value' ? issue.values : undefined;
  if (Array.isArray(choices) && choices.length > 0 && input !== undefined && issue.path && valueAt(input, issue.path) === undefined) {
    return `is required: one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`;
  }
  const inner = issue.code === 'invalid_key' ? issue.issues?.[0]?.message : undefined;
  return inner === undefined ? issue.message : `invalid name: ${inner}`;
}
