/**
 * The glob patterns of CWL outputBinding, as POSIX glob(3) reads them without braces or `**`:
 * `*`, `?` and `[...]` within one path segment; leading dots are matched only literally.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const MAGIC = /[*?[]/;

/** Regular expression of one path segment's pattern. */
export function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Regular files under `dir` matching `pattern` (relative), as absolute paths in code-point order. */
export function globFiles(dir: string, pattern: string): string[] {
  let current = [dir];
  for (const segment of pattern.split('/')) {
    if (segment === '' || segment === '.') continue;
    const next: string[] = [];
    if (!MAGIC.test(segment)) {
      for (const d of current) next.push(path.join(d, segment));
    } else {
      const re = segmentRegExp(segment);
      const dotOk = segment.startsWith('.');
      for (const d of current) {
        let names: string[];
        try {
          names = readdirSync(d);
        } catch {
          continue;
        }
        for (const name of names) if ((dotOk || !name.startsWith('.')) && re.test(name)) next.push(path.join(d, name));
      }
    }
    current = next;
  }
  return current.filter((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  }).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
