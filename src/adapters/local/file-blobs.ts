/** Large payloads as files under the state dir: the embedded engine's stand-in for S3 claim checks. */
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { JoinflowError } from '../../model/errors.ts';
import type { BlobStore } from '../../ports.ts';

/** A BlobStore writing `<dir>/<key>`; references are file:// URLs inside `dir`. */
export function createFileBlobStore(dir: string): BlobStore {
  const root = path.resolve(dir);
  return {
    async put(key, body) {
      const file = path.resolve(root, key.replace(/[^A-Za-z0-9_.:/-]/g, '_'));
      if (!file.startsWith(root + path.sep)) throw new JoinflowError('INVALID_BLOB_KEY', `blob key "${key}" leaves ${root}`);
      mkdirSync(path.dirname(file), { recursive: true });
      // Write then rename: a crash never leaves a half-written payload behind a reference.
      writeFileSync(`${file}.tmp`, body);
      renameSync(`${file}.tmp`, file);
      return pathToFileURL(file).href;
    },
    async get(ref) {
      let file: string;
      try {
        file = fileURLToPath(ref);
      } catch {
        throw new JoinflowError('INVALID_BLOB_REF', `"${ref}" is not a file:// reference`);
      }
      if (!path.resolve(file).startsWith(root + path.sep)) throw new JoinflowError('INVALID_BLOB_REF', `"${ref}" is outside the state dir ${root}`);
      return readFileSync(file, 'utf8');
    },
  };
}
