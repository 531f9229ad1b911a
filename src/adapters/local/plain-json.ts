/**
 * JSON workflow files read natively. The YAML reader (JSON is YAML) also reports duplicate keys
 * and positions, but it took 0.6 s of a 1.1 s `joinflow run` of an imported 1,695-task WfCommons
 * trace (550 KB of JSON); JSON.parse and the scan below take a few milliseconds.
 */

/**
 * The value of `text` when it is JSON that the YAML reader would read the same way: no key twice
 * in an object, and no container nested `maxDepth` deep or more. Undefined otherwise (not JSON,
 * a duplicate key, too deep), and the caller reads the text as YAML, which gives the messages.
 */
export function plainJson(text: string, maxDepth: number): { value: unknown } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return scan(text, maxDepth) === true ? { value } : undefined;
}

/**
 * JSON.parse, except that a key given twice in one object is an error (JSON.parse keeps the last
 * one silently: a trace's runtime written twice would change a workflow without a word). The
 * error says where: `line 3, column 5: key "a" appears twice in one object`.
 */
export function parseJsonStrict(text: string): unknown {
  let value: unknown;
  // A byte order mark (some editors write one) is not part of the JSON.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(jsonMessage(text, error as Error));
  }
  const found = scan(text, Infinity);
  if (found !== true && found !== false) {
    throw new SyntaxError(`${lineColumn(text, found.at)}: key ${JSON.stringify(found.key)} appears twice in one object`);
  }
  return value;
}

/**
 * Whether every object of `text` (valid JSON: JSON.parse took it) has distinct keys (else the
 * first key repeated, and where) and no container is nested `maxDepth` deep (else false). One
 * pass over the characters: the open containers form a stack (an object's entry holds its keys
 * so far), and a string is a key when it opens an object or follows a comma in one.
 */
function scan(text: string, maxDepth: number): true | false | { key: string; at: number } {
  const open: Array<Set<string> | undefined> = [];
  let key = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      for (i++; ; i++) {
        const d = text.charCodeAt(i);
        if (d === QUOTE) break;
        if (d === BACKSLASH) {
          escaped = true;
          i++;
        }
      }
      if (!key) continue;
      key = false;
      // "a" and "\u0061" are the same key.
      const name = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i);
      const keys = open[open.length - 1]!;
      if (keys.has(name)) return { key: name, at: start };
      keys.add(name);
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const object = c === OPEN_OBJECT;
      if (open.push(object ? new Set() : undefined) >= maxDepth) return false;
      key = object;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      open.pop();
      key = false;
    } else if (c === COMMA) {
      key = open[open.length - 1] !== undefined;
    }
  }
  return true;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/**
 * JSON.parse's message in one line with its place: V8 gives "at position N" for some errors
 * (made a line and column here) and for others quotes the text around the error over several
 * lines (cut off here).
 */
export function jsonMessage(text: string, error: Error): string {
  const message = error.message;
  const at = /^(.*?) (?:in|after) JSON at position (\d+)/s.exec(message);
  if (at) return `${lineColumn(text, Number(at[2]))}: ${at[1]!.split('\n')[0]}`;
  if (/^Unexpected end of JSON input/.test(message)) return `${lineColumn(text, text.length)}: unexpected end of the text`;
  const token = /^(Unexpected token .*?), (?:\.\.\.)?"/s.exec(message);
  if (token) return `${lineColumn(text, unexpectedAt(text))}: ${token[1]!.split('\n')[0]}`;
  return message.replace(/, ".*$/s, '').split('\n')[0]!;
}

/**
 * Where JSON.parse met an unexpected token, which V8 does not say: the shortest prefix of the
 * text that fails inside itself (not at its end, as a cut-off text does) ends with it. Such a
 * prefix's longer ones fail there too, so it is found by bisection; on a failed parse only.
 */
function unexpectedAt(text: string): number {
  const failsWithin = (k: number): boolean => {
    try {
      JSON.parse(text.slice(0, k));
      return false;
    } catch (error) {
      const message = (error as Error).message;
      const at = / (?:in|after) JSON at position (\d+)/.exec(message);
      return at ? Number(at[1]) < k : /^Unexpected token/.test(message);
    }
  };
  let lo = 1;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (failsWithin(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

/** `line L, column C` of an offset in a text (1-based), as the definition errors name places. */
export function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  return `line ${before.split('\n').length}, column ${offset - before.lastIndexOf('\n')}`;
}