/**
 * The `yaml` package, loaded on first use. Most workflows are TypeScript modules, and loading
 * yaml (73 modules) cost every `joinflow run` about 30 ms of start-up.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

const load = createRequire(import.meta.url);
let loaded: typeof Yaml | undefined;

/** The yaml module (the same instance an `import` of it gives: its Node entry is CommonJS). */
export function yaml(): typeof Yaml {
  return (loaded ??= load('yaml') as typeof Yaml);
}
