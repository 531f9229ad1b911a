/** The error of an ASL state that fails while it runs, and how its messages name a value. */

/** An error raised while a state runs, with the ASL error name (`States.Runtime`, ...). */
export class StatesError extends Error {
  readonly error: string;
  readonly detail: string;
  constructor(error: string, cause: string) {
    super(cause === '' ? error : `${error}: ${cause}`);
    this.error = error;
    this.detail = cause;
  }
}

/** A value as a message names it: its type and its JSON, cut at 60 characters. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const json = JSON.stringify(v) ?? String(v);
  return `${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v} ${json.length > 60 ? `${json.slice(0, 57)}...` : json}`;
}
