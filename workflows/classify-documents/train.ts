/**
 * Build step of the classify-documents example: trains the classifiers on data/phrases.txt,
 * prints their held-out accuracy and writes models/*.json (which the handlers import, so that
 * serverless-esbuild bundles them into the Lambda functions).
 *
 *   node --import tsx workflows/classify-documents/train.ts          # (npm run build:models)
 *   node --import tsx workflows/classify-documents/train.ts --check  # exit 1 if models/ is stale
 *
 * Training is deterministic, so the models are committed and `--check` (and the unit tests) can
 * tell whether they match the phrase set.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parsePhrases } from './dataset.ts';
import { formatMetrics, modelFiles, trainAll } from './training.ts';

const here = import.meta.dirname;
/** The phrase set the models are trained on. */
export const PHRASES_FILE = path.join(here, 'data', 'phrases.txt');
/** Where the models go. */
export const MODELS_DIR = path.join(here, 'models');

/** Trains from the phrase file; returns the files to write and the report. */
export function build(phrasesFile = PHRASES_FILE) {
  const trained = trainAll(parsePhrases(readFileSync(phrasesFile, 'utf8'), path.relative(process.cwd(), phrasesFile)));
  return { files: modelFiles(trained), report: formatMetrics(trained.metrics) };
}

function main(): number {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
  const { files, report } = build();
  process.stdout.write(`${report}\n`);
  const rel = (f: string) => path.relative(process.cwd(), path.join(MODELS_DIR, f));
  const stale = Object.entries(files).filter(([f, text]) => !existsSync(path.join(MODELS_DIR, f)) || readFileSync(path.join(MODELS_DIR, f), 'utf8') !== text);
  if (values.check) {
    if (stale.length === 0) return 0;
    process.stderr.write(`stale models (run npm run build:models): ${stale.map(([f]) => rel(f)).join(', ')}\n`);
    return 1;
  }
  mkdirSync(MODELS_DIR, { recursive: true });
  for (const [f, text] of stale) writeFileSync(path.join(MODELS_DIR, f), text);
  process.stderr.write(stale.length === 0 ? 'models unchanged\n' : `wrote ${stale.map(([f]) => rel(f)).join(', ')}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) process.exitCode = main();
