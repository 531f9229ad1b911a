/**
 * The testable half of watch.ts: what a scan of the folder sees, which files of a scan are ready,
 * and the Run Requested entry a document file becomes. Locally this is the "document lands in a bucket" of the example; on AWS
 * an upload to s3://<bucket>/runs/classify-documents/<file> does the same through the S3 bridge.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** What a scan sees of one file. */
export type FileState = { name: string; size: number; mtimeMs: number };

/**
 * The files directly in `dir`: regular files, and symbolic links to regular files (a document
 * linked into the folder is one that landed there); not directories, nor links to them.
 */
export function scan(dir: string): FileState[] {
  const out: FileState[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    try {
      const s = statSync(path.join(dir, entry.name));
      if (s.isFile()) out.push({ name: entry.name, size: s.size, mtimeMs: s.mtimeMs });
    } catch {
      // Removed between readdir and stat (or a link to nothing): the next scan says again.
    }
  }
  return out;
}

/** File kinds taken: JSON documents, and plain text (split into phrases by the classify step). */
export const DOCUMENT_EXTENSIONS = ['.json', '.txt'] as const;

/** The same file name, size and modification time: the same document version. */
export function signature(f: FileState): string {
  return `${f.name}\u0000${f.size}\u0000${f.mtimeMs}`;
}

/**
 * Files to submit now: document files unchanged since the previous scan (so a file still being
 * written is not read half-way) and not submitted before in this version. With `previous`
 * undefined (--once), every document file is ready.
 */
export function readyFiles(current: readonly FileState[], previous: readonly FileState[] | undefined, submitted: ReadonlySet<string>): FileState[] {
  const before = previous === undefined ? undefined : new Set(previous.map(signature));
  return current
    .filter((f) => (DOCUMENT_EXTENSIONS as readonly string[]).includes(path.extname(f.name).toLowerCase()))
    .filter((f) => !submitted.has(signature(f)) && (before === undefined || before.has(signature(f))))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The run id of a document version: derived from its signature, so that a watcher restarted on
 * the same folder asks for the same runs again, and joinflow (Run Requested is idempotent for a
 * given runId) does not run them twice.
 */
export function runIdFor(f: FileState): string {
  return `watch-${createHash('sha256').update(signature(f)).digest('hex').slice(0, 32)}`;
}

/**
 * Whether a refused PutEvents entry was refused for what it is (too large, malformed), so that
 * sending it again is no use until the file changes; otherwise (no answer, throttling, a server
 * error, a token joinflow dev did not take) the next scan tries again. `status` is the HTTP status
 * of a request that failed as a whole; `errorCode` the entry's ErrorCode in a PutEvents result.
 */
export function refusedForGood(refusal: { status?: number | undefined; errorCode?: string | undefined }): boolean {
  if (refusal.errorCode !== undefined) return !['ThrottlingException', 'InternalFailure', 'InternalException'].includes(refusal.errorCode);
  const s = refusal.status;
  return s !== undefined && s >= 400 && s < 500 && ![401, 403, 408, 429].includes(s);
}

/** The run input of a document file: its JSON (id defaulting to the file name), or `{id, text}`. */
export function documentInput(f: FileState, content: string): { input: unknown } | { error: string } {
  // Editors on Windows may start a UTF-8 file with a byte order mark, which JSON.parse refuses.
  if (content.startsWith('\uFEFF')) content = content.slice(1);
  const id = path.basename(f.name, path.extname(f.name));
  if (path.extname(f.name).toLowerCase() === '.txt') return { input: { id, text: content } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch (error) {
    return { error: `${f.name} is not valid JSON (${(error as Error).message})` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { error: `${f.name}: a document is a JSON object` };
  return { input: { id, ...(parsed as Record<string, unknown>) } };
}
