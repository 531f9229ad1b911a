/**
 * Which CLI bin/joinflow.js runs: the compiled one in dist/ (scripts/build-cli.mjs, run by
 * `npm ci` and `npm run build`) when it was built after the last change under src/, else the
 * TypeScript sources through tsx. A checkout edited or pulled since the last build therefore runs
 * what is in src/, never stale code.
 */
import { existsSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';

/**
 * The newest modification time (ms) of `dir` and of everything under it: 0 when there is no
 * `dir` (a package that ships only dist/), Infinity when an entry vanished during the walk
 * (something is editing the sources: run them, not the build).
 */
function newestUnder(dir) {
  if (!existsSync(dir)) return 0;
  try {
    // A directory's time changes when an entry is added, removed or renamed in it.
    let newest = statSync(dir).mtimeMs;
    for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      const t = statSync(path.join(entry.parentPath ?? entry.path, entry.name)).mtimeMs;
      if (t > newest) newest = t;
    }
    return newest;
  } catch (error) {
    if (error.code === 'ENOENT') return Infinity;
    throw error;
  }
}

/**
 * The compiled CLI's entry module under `root` (the package), or undefined when there is no
 * complete build (dist/.built is written last), when it is older than a file under src/, or when
 * `env.JOINFLOW_CLI_SOURCE` is "1".
 */
export function compiledCli(root, env = process.env) {
  if (env.JOINFLOW_CLI_SOURCE === '1') return undefined;
  const stamp = path.join(root, 'dist', '.built');
  const entry = path.join(root, 'dist', 'cli', 'main.js');
  if (!existsSync(stamp) || !existsSync(entry)) return undefined;
  return statSync(stamp).mtimeMs >= newestUnder(path.join(root, 'src')) ? entry : undefined;
}

/** The line scripts/build-cli.mjs adds to dist/.built when it builds for `npm pack` or `npm publish`. */
export const PACKED = 'packed';

/**
 * Dates a packed build (dist/.built says PACKED) under `root` now; run by the package's `install`
 * script, after npm extracted it. npm does not keep a tarball's file times: it writes each file at
 * extraction, src/ after dist/, so the build would look older than the sources and the CLI would
 * never run it. Returns whether it did; a build made in a checkout (npm ci, npm run build) is
 * left as it is, so that an edit after it still runs the sources.
 */
export function dateInstalledBuild(root) {
  const stamp = path.join(root, 'dist', '.built');
  let text;
  try {
    text = readFileSync(stamp, 'utf8');
  } catch {
    return false;
  }
  if (!text.split('\n').includes(PACKED)) return false;
  const now = new Date();
  utimesSync(stamp, now, now);
  return true;
}
