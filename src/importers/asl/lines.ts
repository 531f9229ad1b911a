/**
 * The line of each problem of an imported machine: a problem's path (`States["Wait 20s"].Next`,
 * `States.P.Parameters.a.b.$`) is found in the machine's text, JSON or YAML, so that the message
 * says where the construct is. Pure: the caller hands in the text and the machine read from it.
 */
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Problem } from '../../model/errors.ts';

/** The problems with `(line N)` after each path that the text locates. */
export function withLines(text: string, machine: unknown, problems: Problem[]): Problem[] {
  if (problems.length === 0) return problems;
  const counter = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, { lineCounter: counter, uniqueKeys: false });
    if (doc.errors.length > 0) return problems;
  } catch {
    return problems;
  }
  return problems.map((p) => {
    if (p.path === '') return p;
    const at = nodeAt(doc, segmentsOf(p.path, machine));
    if (!at?.range) return p;
    return { ...p, path: `${p.path} (line ${counter.linePos(at.range[0]).line})` };
  });
}

type Segment = string | number;

/**
 * The keys of a problem's path, read against the machine itself: a field name may hold dots (a
 * template's `a.b.$`), so at each object the longest of its keys that the path goes on with is
 * taken. A field the machine lacks (one that is required) ends the path at its parent.
 */
export function segmentsOf(path: string, machine: unknown): Segment[] {
  const out: Segment[] = [];
  let rest = path;
  let value = machine;
  while (rest !== '') {
    const index = /^\[(\d+)\]/.exec(rest);
    const quoted = /^\[("(?:[^"\\]|\\.)*")\]/.exec(rest);
    let key: Segment | undefined;
    let length = 0;
    if (index) {
      key = Number(index[1]);
      length = index[0].length;
    } else if (quoted) {
      key = JSON.parse(quoted[1]!) as string;
      length = quoted[0].length;
    } else {
      const from = rest.startsWith('.') ? 1 : 0;
      const tail = rest.slice(from);
      const keys = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
      const found = keys.filter((k) => k !== '' && tail.startsWith(k) && (tail.length === k.length || tail[k.length] === '.' || tail[k.length] === '['))
        .sort((a, b) => b.length - a.length)[0];
      if (found === undefined) break;
      key = found;
      length = from + found.length;
    }
    const next = typeof key === 'number' ? (Array.isArray(value) ? value[key] : undefined)
      : value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
    if (next === undefined) break;
    out.push(key);
    value = next;
    rest = rest.slice(length);
  }
  return out;
}

/** The key node of the last segment when it names a field, else the node at `path` (the root for none). */
function nodeAt(doc: Document, path: Segment[]): Node | undefined {
  const last = path[path.length - 1];
  if (typeof last === 'string') {
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((i) => isScalar(i.key) && String(i.key.value) === last);
      if (pair && isScalar(pair.key)) return pair.key;
    }
  }
  const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
  return node !== null && typeof node === 'object' && 'range' in node ? (node as Node) : undefined;
}
