/**
 * TypeScript for the compiled CLI's handler workers, compiled on the main thread. A worker that
 * registers tsx pays ~150 ms for it (Node 20 gives each worker a loader-hooks thread of its own,
 * and tsx's loader takes that long to start in one). Instead, the worker registers ts-hooks.ts,
 * which imports nothing heavy: its hooks thread sends each TypeScript file's URL here, and gets
 * back JavaScript compiled by esbuild (the compiler tsx uses), from one esbuild service and one
 * cache shared by all workers. The module keeps its own URL, so `import.meta.url` is the file's.
 *
 * Only what compiles file by file, alike under both, is done here: an ES module (`.mts`, or `.ts`
 * and `.tsx` in a package with "type": "module") whose nearest tsconfig.json neither extends
 * another nor maps paths. Anything else is answered `useTsx`, and the worker imports it with tsx.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MessagePort } from 'node:worker_threads';

/** A hooks thread asks for the JavaScript of the TypeScript file at `url`. */
export type TranspileRequest = { id: number; url: string };
/** The JavaScript; or why tsx should load the file instead; or why it does not compile. */
export type TranspileReply = { id: number; source: string } | { id: number; useTsx: string } | { id: number; error: string };
type Answer = { source: string } | { useTsx: string } | { error: string };

/**
 * Errors of an ESM import that tsx's resolution may cure. They are raised while the module graph
 * is resolved, before any of its code runs, so importing it again runs nothing twice.
 */
export const RESOLUTION_ERRORS = new Set(['ERR_UNKNOWN_FILE_EXTENSION', 'ERR_MODULE_NOT_FOUND', 'ERR_UNSUPPORTED_DIR_IMPORT']);
/**
 * Errors of an import through ts-hooks.ts that tsx may cure: those above, a file it leaves to tsx,
 * a JSON import without `with { type: 'json' }`. All are raised before any of the graph runs.
 */
export const TS_HOOKS_ERRORS = new Set([...RESOLUTION_ERRORS, 'JOINFLOW_USE_TSX', 'ERR_IMPORT_ATTRIBUTE_MISSING', 'ERR_IMPORT_ASSERTION_TYPE_MISSING']);

/** The files this compiles; `.cts` (CommonJS) and `.jsx` are left to tsx. */
export const COMPILED_HERE = /\.(?:mts|ts|tsx)$/;

type Esbuild = typeof import('esbuild');
let esbuild: Promise<Esbuild> | undefined;
const cache = new Map<string, { mtimeMs: number; size: number; answer: Promise<Answer> }>();

/** The JavaScript of the TypeScript file at `file` (an absolute path), compiled once per version. */
export function transpile(file: string): Promise<Answer> {
  let mtimeMs: number;
  let size: number;
  try {
    ({ mtimeMs, size } = statSync(file));
  } catch {
    // Node's own loader says the file is missing, in its words.
    return Promise.resolve({ useTsx: 'the file cannot be read' });
  }
  const hit = cache.get(file);
  if (hit !== undefined && hit.mtimeMs === mtimeMs && hit.size === size) return hit.answer;
  const answer = compile(file);
  cache.set(file, { mtimeMs, size, answer });
  return answer;
}

/** Serves a worker's hooks thread on `port` (closed with the worker). */
export function serveTranspiler(port: MessagePort): void {
  port.on('message', (request: TranspileRequest) => {
    let file: string;
    try {
      file = fileURLToPath(request.url);
    } catch {
      port.postMessage({ id: request.id, useTsx: 'not a file URL' } satisfies TranspileReply);
      return;
    }
    void transpile(file).then((answer) => port.postMessage({ id: request.id, ...answer } as TranspileReply));
  });
  // An idle pool must not keep the process alive; a pending compile holds it through esbuild.
  port.unref();
}

async function compile(file: string): Promise<Answer> {
  const ext = path.extname(file);
  if (!COMPILED_HERE.test(ext)) return { useTsx: `${ext} files are left to tsx` };
  if (ext !== '.mts' && packageType(path.dirname(file)) !== 'module') return { useTsx: 'its package is CommonJS (no "type": "module")' };
  const config = tsconfigFor(path.dirname(file));
  if ('useTsx' in config) return config;
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    return { useTsx: 'the file cannot be read' };
  }
  try {
    esbuild ??= import('esbuild');
    const result = await (await esbuild).transform(source, {
      loader: ext === '.tsx' ? 'tsx' : 'ts',
      target: `node${process.versions.node}`,
      sourcefile: file,
      sourcemap: 'inline',
      tsconfigRaw: JSON.stringify({ compilerOptions: config.compilerOptions }),
    });
    return { source: result.code };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The nearest file named `name` at or above `dir`, with its text. */
function nearest(dir: string, name: string): { file: string; text: string } | undefined {
  for (let at = dir; ; at = path.dirname(at)) {
    const file = path.join(at, name);
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch {
      // None here: look further up.
    }
    if (path.dirname(at) === at) return undefined;
  }
}

/** The "type" of the nearest package.json at or above `dir` (undefined: CommonJS, Node's default). */
function packageType(dir: string): unknown {
  const found = nearest(dir, 'package.json');
  try {
    return found === undefined ? undefined : (JSON.parse(found.text) as { type?: unknown }).type;
  } catch {
    return undefined;
  }
}

/**
 * The compiler options of the nearest tsconfig.json at or above `dir` (none: esbuild's defaults).
 * One that extends another or maps paths is tsx's: tsx follows both, a file-by-file compile cannot.
 */
export function tsconfigFor(dir: string): { compilerOptions: Record<string, unknown> } | { useTsx: string } {
  const found = nearest(dir, 'tsconfig.json');
  if (found === undefined) return { compilerOptions: {} };
  let config: { extends?: unknown; compilerOptions?: Record<string, unknown> };
  try {
    config = JSON.parse(withoutComments(found.text)) as typeof config;
  } catch {
    return { useTsx: `${found.file} is not JSON with comments` };
  }
  if (config.extends !== undefined) return { useTsx: `${found.file} extends another` };
  const options = config.compilerOptions ?? {};
  if (options['paths'] !== undefined || options['baseUrl'] !== undefined) return { useTsx: `${found.file} maps paths` };
  return { compilerOptions: options };
}

/** tsconfig.json is JSON with comments and trailing commas: plain JSON without them. */
export function withoutComments(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      // A string, escapes and all, copied as it is.
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
      out += ' ';
    } else if (c === ',') {
      // A trailing comma (only blanks and comments between it and } or ]) is dropped.
      let j = i + 1;
      for (;;) {
        while (j < text.length && /\s/.test(text[j]!)) j++;
        if (text.startsWith('//', j)) j = text.indexOf('\n', j) < 0 ? text.length : text.indexOf('\n', j);
        else if (text.startsWith('/*', j)) j = text.indexOf('*/', j + 2) < 0 ? text.length : text.indexOf('*/', j + 2) + 2;
        else break;
      }
      if (text[j] !== '}' && text[j] !== ']') out += c;
    } else out += c;
  }
  return out;
}
