/** `joinflow import wfcommons|cwl <file>`: a WfCommons trace or a CWL workflow -> a joinflow workflow. */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { importWfCommons } from '../importers/wfcommons.ts';
import { UsageError } from '../model/errors.ts';

/** Runs `joinflow import`; resolves with the exit code. */
export async function importCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      name: { type: 'string' },
      executor: { type: 'string' },
      image: { type: 'string' },
    },
  });
  const [format, file, ...extra] = positionals;
  if (format === 'cwl') {
    if (file === undefined || extra.length > 0) throw new UsageError('name exactly one CWL file: joinflow import cwl <workflow.cwl>');
    return (await import('./import-cwl.ts')).importCwlFile(file, values);
  }
  if (values.executor !== undefined || values.image !== undefined) throw new UsageError('--executor and --image apply to joinflow import cwl only');
  if (format !== 'wfcommons') {
    throw new UsageError(format === undefined ? 'name the format: joinflow import wfcommons <trace.json> or joinflow import cwl <workflow.cwl>' : `unknown format "${format}" (supported: wfcommons, cwl)`);
  }
  if (file === undefined || extra.length > 0) throw new UsageError('name exactly one trace file');
  let trace: unknown;
  try {
    trace = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`${file}: cannot read a JSON trace: ${(error as Error).message}`);
  }
  const { workflow, stats } = importWfCommons(trace, values.name === undefined ? {} : { name: values.name });
  const text = `${JSON.stringify(workflow, null, 2)}\n`;
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
  process.stderr.write(
    `${workflow.name}: ${stats.tasks} tasks, ${stats.edges} edges, depth ${stats.depth}, ` +
      `critical path ${(stats.criticalPathMs / 1000).toFixed(3)} s (WfFormat ${stats.schemaVersion})\n`,
  );
  return 0;
}
