/**
 * The glob patterns of CWL outputBinding, as POSIX glob(3) reads them without braces or `**`:
 * `*`, `?` and `[...]` within one path segment; leading dots are matched only literally.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { segmentRegExp } from '../../importers/cwl/glob-pattern.ts';

export { segmentRegExp };

const MAGIC = /[*?[]/;

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
  }).sort(byCodePoint);
}

/**
 * Code-point order: how glob(3) sorts in the C locale, and cwltool's strcoll there. JavaScript's
 * `<` compares UTF-16 code units, which puts U+10000 and above (surrogate pairs) before
 * U+E000..U+FFFF; UTF-8 bytes compare in code-point order.
 */
function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
