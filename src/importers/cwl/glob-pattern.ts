/**
 * The glob patterns of CWL outputBinding, as POSIX glob(3) reads them without braces or `**`:
 * one path segment's pattern as a regular expression (`*`, `?`, bracket expressions with POSIX
 * classes). The import checks patterns with it; the runner (adapters/local/cwl-glob.ts) matches
 * files with it.
 */

/**
 * POSIX character classes as a UTF-8 locale's glob(3) reads them: letters, case, spaces and
 * punctuation as Unicode classifies them, digits and hex digits ASCII only.
 */
const CLASSES: Record<string, string> = {
  alpha: '\\p{Alphabetic}',
  digit: '[0-9]',
  alnum: '[\\p{Alphabetic}0-9]',
  upper: '\\p{Uppercase}',
  lower: '\\p{Lowercase}',
  space: '\\p{White_Space}',
  blank: '[\\t\\p{Zs}]',
  punct: '[\\p{P}\\p{S}]',
  xdigit: '[0-9A-Fa-f]',
  cntrl: '\\p{Cc}',
  graph: '[^\\p{White_Space}\\p{C}]',
  print: '[^\\p{C}\\p{Zl}\\p{Zp}]',
};

const literal = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const hex = (c: string): string => `\\u{${c.codePointAt(0)!.toString(16)}}`;

/**
 * A bracket expression starting at `chars[start]` (the `[`), as fnmatch(3) reads one: `!` or
 * `^` first negates, a `]` first (after the negation) is a literal, `a-z` is a range of code
 * points, `[:alpha:]` a class; `[=c=]` and `[.c.]` name the character c. The regular
 * expression of one character and the index after the closing `]`, or undefined when the
 * expression is not closed (the `[` is then a literal).
 */
function bracket(chars: string[], start: number, unknown?: string[]): { re: string; end: number } | undefined {
  let i = start + 1;
  const negate = chars[i] === '!' || chars[i] === '^';
  if (negate) i++;
  const items: string[] = [];
  let first = true;
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === ']' && !first) {
      const any = items.length === 0 ? '(?!)' : `(?:${items.join('|')})`;
      // A negated expression never matches "/": names have none, but the rule keeps patterns honest.
      return { re: negate ? `(?!${any})[^/]` : any, end: i + 1 };
    }
    first = false;
    if (c === '[' && (chars[i + 1] === ':' || chars[i + 1] === '=' || chars[i + 1] === '.')) {
      const kind = chars[i + 1]!;
      const close = chars.findIndex((x, j) => j > i + 1 && x === kind && chars[j + 1] === ']');
      if (close > 0) {
        const name = chars.slice(i + 2, close).join('');
        // An unknown class makes fnmatch match nothing; so does a multi-character collating element here.
        if (kind === ':' && !Object.hasOwn(CLASSES, name)) unknown?.push(name);
        if (kind === ':') items.push(Object.hasOwn(CLASSES, name) ? CLASSES[name]! : '(?!)');
        else items.push(name.length > 0 && [...name].length === 1 ? literal(name) : '(?!)');
        i = close + 2;
        continue;
      }
    }
    if (chars[i + 1] === '-' && chars[i + 2] !== undefined && chars[i + 2] !== ']') {
      const lo = c.codePointAt(0)!;
      const hi = chars[i + 2]!.codePointAt(0)!;
      // A range whose end comes before its start matches nothing, as in fnmatch.
      items.push(lo <= hi ? `[${hex(c)}-${hex(chars[i + 2]!)}]` : '(?!)');
      i += 3;
      continue;
    }
    items.push(literal(c));
    i++;
  }
  return undefined;
}

/** Regular expression of one path segment's pattern (`*`, `?`, bracket expressions). */
export function segmentRegExp(segment: string, unknown?: string[]): RegExp {
  // Code points, not UTF-16 units: `?` and a bracket expression match one character, also beyond U+FFFF.
  const chars = [...segment];
  let re = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const b = bracket(chars, i, unknown);
      if (b === undefined) re += '\\[';
      else {
        re += b.re;
        i = b.end - 1;
      }
    } else re += literal(c);
  }
  return new RegExp(`^${re}$`, 'u');
}

/**
 * The character classes a pattern names that glob(3) does not know (`[[:alfa:]]`): such a bracket
 * expression matches nothing, so the output would never be found.
 */
export function unknownClasses(pattern: string): string[] {
  const unknown: string[] = [];
  for (const segment of pattern.split('/')) segmentRegExp(segment, unknown);
  return [...new Set(unknown)];
}

/** The class names glob(3) knows, for messages. */
export const CLASS_NAMES = Object.keys(CLASSES);
