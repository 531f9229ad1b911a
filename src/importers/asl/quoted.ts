/** The lexical parts that paths and filters share: blanks and quoted names. Pure. */

/** JSON's blanks, which a bracket and a filter may hold around their parts. */
export const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';

const ESCAPES: Record<string, string> = { "'": "'", '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * Reads the quoted string at `text[at]` (its quote `'` or `"`), with JSONPath's escapes (RFC 9535,
 * which the Step Functions guide points to): `\'`, `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`
 * and `\uXXXX`. Returns the string and the index after its closing quote; `fail` says what is wrong.
 */
export function readQuoted(text: string, at: number, fail: (why: string) => never, what = 'the name after "["'): { value: string; end: number } {
  const quote = text[at]!;
  let value = '';
  let i = at + 1;
  while (i < text.length && text[i] !== quote) {
    if (text[i] !== '\\') {
      value += text[i++];
      continue;
    }
    const e = text[i + 1] ?? '';
    if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
      value += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
      i += 6;
    } else if (Object.hasOwn(ESCAPES, e)) {
      value += ESCAPES[e];
      i += 2;
    } else {
      fail(`"\\${e}" is not an escape in a quoted name or string (\\${quote} is the quote, \\\\ a backslash; also \\/ \\b \\f \\n \\r \\t \\uXXXX)`);
    }
  }
  if (i >= text.length) fail(`${what} has no closing ${quote}`);
  return { value, end: i + 1 };
}
