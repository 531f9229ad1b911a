/** A handler module whose load lasts as long as a test wants (function and container handler timing tests). */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Writes, in the empty directory `dir`, a module whose top-level code writes `<dir>/importing`,
 * then waits until `release()` has written `<dir>/release`. Its export `now` returns 'ran' at
 * once; `hangs` never returns.
 */
export function slowImport(dir: string): { module: string; importing: () => boolean; release: () => void } {
  const module = path.join(dir, 'slow-import.mjs');
  const [importing, release] = [path.join(dir, 'importing'), path.join(dir, 'release')];
  writeFileSync(module, [
    "import { existsSync, writeFileSync } from 'node:fs';",
    `writeFileSync(${JSON.stringify(importing)}, '');`,
    `while (!existsSync(${JSON.stringify(release)})) await new Promise((resolve) => setTimeout(resolve, 10));`,
    "export const now = () => 'ran';",
    'export const hangs = () => new Promise(() => {});',
  ].join('\n'));
  return { module, importing: () => existsSync(importing), release: () => writeFileSync(release, '') };
}
