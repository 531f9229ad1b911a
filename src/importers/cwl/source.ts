/**
 * A parsed CWL document (YAML or JSON) that still knows where each value came from, so that every
 * problem can name `<file>:<line>:<col>`. Pure: the caller hands in the text.
 */
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Problem } from '../../model/errors.ts';

/** A path inside a document: map keys and sequence indexes. */
export type DocPath = ReadonlyArray<string | number>;

/** One CWL file: its plain value and a way back from a path to its position. */
export type CwlSource = {
  /** The file name as it is shown in problems. */
  file: string;
  value: unknown;
  /** `file:line:col` of the value at `path` (of its key when `key` is set), or of the nearest parent found. */
  at(path: DocPath, key?: boolean): string;
};

/** Collects problems of one import; every message already carries its position. */
export type Problems = {
  list: Problem[];
  add(where: string, message: string): void;
  /** `<construct> is not supported by joinflow's CWL subset (<why>)`, at the construct's key. */
  refuse(src: CwlSource, path: DocPath, construct: string, why: string): void;
};

/** Creates an empty problem list. */
export function createProblems(): Problems {
  const list: Problem[] = [];
  return {
    list,
    add(where, message) {
      list.push({ path: where, message });
    },
    refuse(src, path, construct, why) {
      list.push({ path: src.at(path, true), message: `${construct} is not supported by joinflow's CWL subset (${why})` });
    },
  };
}

/** YAML syntax errors reported per file. */
const MAX_SYNTAX_ERRORS = 3;

/**
 * Parses CWL text. Syntax errors (and duplicate keys) are added to `problems` and give
 * `undefined`: nothing sensible can be said about the rest of a file that does not parse.
 */
export function parseCwlSource(file: string, text: string, problems: Problems): CwlSource | undefined {
  const lines = new LineCounter();
  // JSON is YAML too, so one parser reads both and gives positions for both. Merge keys (`<<: *base`)
  // are read as cwltool (ruamel.yaml) reads them.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, merge: true });
  if (doc.errors.length > 0) {
    // One syntax error often brings dozens after it: the first few say where to look.
    for (const error of doc.errors.slice(0, MAX_SYNTAX_ERRORS)) {
      // Errors at the end of the text come without linePos; their offset still says where.
      const pos = error.linePos?.[0] ?? lines.linePos(Math.min(error.pos[0], text.length));
      problems.add(`${file}:${pos.line}:${pos.col}`, `not valid YAML or JSON: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    const more = doc.errors.length - MAX_SYNTAX_ERRORS;
    if (more > 0) problems.add(file, `and ${more} more YAML error${more === 1 ? '' : 's'} after these (often caused by the first)`);
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    problems.add(file, `cannot read the document: ${(error as Error).message.split('\n')[0]!}`);
    return undefined;
  }
  const position = (offset: number): string => {
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  return {
    file,
    value,
    at(path, key = false) {
      const node = nodeAt(doc, path, key);
      return node?.range ? position(node.range[0]) : `${file}:1:1`;
    },
  };
}

/** The node at `path`, or its key node, or the deepest parent that exists. */
function nodeAt(doc: Document, path: DocPath, key: boolean): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const parentPath = path.slice(0, n - 1);
    if (key && n === path.length && n > 0) {
      const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
      if (isMap(parent)) {
        const last = path[n - 1];
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
        if (pair && isScalar(pair.key)) return pair.key;
      }
    }
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (node && typeof node === 'object' && 'range' in node) return node as Node;
  }
  return undefined;
}
