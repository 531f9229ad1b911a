/** `joinflow import cwl <workflow.cwl>`: file I/O and the runner's path around the pure importer. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { importCwl } from '../importers/cwl.ts';
import { UsageError } from '../model/errors.ts';
import { workflowOutput, refuseOverwrite, writeOutput } from './input.ts';

/** This package's CLI, which imported steps run as `node <bin> cwl-tool <spec>`. */
const BIN = path.resolve(import.meta.dirname, '../../bin/joinflow.js');

/** The flags of `joinflow import` that apply to CWL. */
export type ImportCwlFlags = { out?: string; name?: string; executor?: string; image?: string };

/** Imports one CWL file and writes the workflow (JSON, or YAML for a .yaml/.yml --out). */
export async function importCwlFile(file: string, flags: ImportCwlFlags): Promise<number> {
  const executor = flags.executor ?? 'process';
  if (executor !== 'process' && executor !== 'batch') throw new UsageError(`--executor must be process or batch, got "${executor}"`);
  if (flags.image !== undefined && executor !== 'batch') {
    throw new UsageError('--image applies to --executor batch (it is the image of steps without a DockerRequirement); process steps run here, with no image');
  }
  if (flags.out !== undefined) workflowOutput('-o', flags.out);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  // Written to stdout, the workflow may be saved anywhere: paths in it (the runner, File
  // defaults) are then absolute, not relative to the current directory.
  const outDir = flags.out === undefined ? undefined : path.dirname(path.resolve(flags.out));
  const read = [file];
  const { workflow, stats, notes } = importCwl(file, text, {
    readFile: (f) => (read.push(f), readFileSync(f, 'utf8')),
    ...(outDir === undefined ? {} : { outDir }),
    runner: { command: 'node', args: [outDir === undefined ? BIN : runnerPath(outDir), 'cwl-tool'] },
    executor,
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.image === undefined ? {} : { image: flags.image }),
  });
  const yaml = flags.out !== undefined && /\.ya?ml$/i.test(flags.out);
  const body = yaml ? toYaml(workflow, { lineWidth: 0 }) : `${JSON.stringify(workflow, null, 2)}\n`;
  if (flags.out !== undefined) {
    // The workflow and the tools it runs are inputs: none of them may be written over.
    for (const f of read) refuseOverwrite(flags.out, f, f === file ? 'the CWL file being imported' : 'a CWL file the workflow runs');
    writeOutput('-o', flags.out, body);
  }
  else process.stdout.write(body);
  for (const note of notes) process.stderr.write(`note: ${note}\n`);
  process.stderr.write(
    `${workflow.name}: ${stats.steps} CWL step${stats.steps === 1 ? '' : 's'} (${stats.scatters} scattered), ${stats.inputs} input${stats.inputs === 1 ? '' : 's'}, ` +
      `${stats.outputs} output${stats.outputs === 1 ? '' : 's'} -> ${Object.keys(workflow.steps).length} ${executor} step${Object.keys(workflow.steps).length === 1 ? '' : 's'}\n`,
  );
  return 0;
}

/**
 * Process steps run in the workflow file's directory: the runner is named relative to it, so the
 * project can move, unless the two share nothing but the file-system root.
 */
function runnerPath(outDir: string): string {
  const rel = path.relative(outDir, BIN);
  const ups = rel.split(path.sep).filter((s) => s === '..').length;
  return ups >= outDir.split(path.sep).filter(Boolean).length ? BIN : rel;
}
