/**
 * The text of a CWL field read as an Expression (arguments, valueFrom, stdout, glob, envValue,
 * format), without evaluating anything: the backslash escapes of string interpolation are
 * resolved, and the first parameter reference or expression left is found. Pure.
 *
 * CWL v1.2 ("String interpolation"): one pass from start to end with 3-character lookahead,
 * resuming after each replacement: `\$(` and `\${` become `$(` and `${` (nothing is evaluated),
 * `\\` becomes `\`, any other backslash stays as it is. CWL v1.0 and v1.1 define no escapes;
 * the reference runner (cwltool) reads a backslash there as escaping whatever character follows
 * it, so those documents are read that way. As in cwltool, only a string that holds `$(` or `${`
 * (escaped or not) is interpolated: any other string is taken as written, backslashes included.
 */

/** The literal text of a field, or where its first (unescaped) parameter reference or expression starts. */
export type Interpolated = { text: string } | { reference: number };

/** Reads `raw` as the value of an Expression field of a document of CWL version `version`. */
export function interpolateLiteral(raw: string, version: unknown): Interpolated {
  if (!/\$[({]/.test(raw)) return { text: raw };
  const v12 = version !== 'v1.0' && version !== 'v1.1';
  let text = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    const next = raw[i + 1];
    if (c === '\\' && next !== undefined) {
      if (!v12) {
        text += next;
        i += 2;
      } else if (next === '$' && (raw[i + 2] === '(' || raw[i + 2] === '{')) {
        text += `$${raw[i + 2]}`;
        i += 3;
      } else if (next === '\\') {
        text += '\\';
        i += 2;
      } else {
        text += '\\';
        i += 1;
      }
    } else if (c === '$' && (next === '(' || next === '{')) {
      return { reference: i };
    } else {
      text += c;
      i += 1;
    }
  }
  return { text };
}

/** Whether `raw` holds a parameter reference or an expression that is not escaped. */
export function hasReference(raw: string, version: unknown): boolean {
  return 'reference' in interpolateLiteral(raw, version);
}
