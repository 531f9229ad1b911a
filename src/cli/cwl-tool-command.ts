/**
 * `joinflow cwl-tool <spec>`: the runner of imported CWL steps (see `joinflow import cwl`). Reads
 * the step event on stdin, or as a Batch job gets it ($JOINFLOW_EVENT / $JOINFLOW_EVENT_URI), and
 * prints the step's output as the last stdout line (and writes it to $JOINFLOW_OUTPUT_URI).
 */
import path from 'node:path';
import { z } from 'zod';
import { runCwlSpec } from '../adapters/local/cwl-runner.ts';
import type { RunnerSpec } from '../importers/cwl/spec.ts';
import { UsageError } from '../model/errors.ts';

const EventSchema = z.object({
  input: z.unknown(),
  results: z.record(z.string(), z.unknown()).default({}),
  item: z.unknown().optional(),
  index: z.number().optional(),
});

const SpecSchema = z.looseObject({ kind: z.enum(['tool', 'items', 'outputs']) });

/** Runs `joinflow cwl-tool`; resolves with the exit code. */
export async function cwlToolCommand(args: string[]): Promise<number> {
  const [specText, ...extra] = args;
  if (specText === undefined || extra.length > 0) throw new UsageError('give exactly one argument: the step spec (JSON) that joinflow import cwl wrote');
  let spec: RunnerSpec;
  try {
    spec = SpecSchema.parse(JSON.parse(specText)) as unknown as RunnerSpec;
  } catch (error) {
    // A zod error's message is its issues as a JSON array: name the first one instead.
    const issue = error instanceof z.ZodError ? error.issues[0] : undefined;
    const why = issue ? `${issue.path.join('.') || 'the spec'}: ${issue.message}` : (error as Error).message.split('\n')[0]!;
    throw new UsageError(`the step spec is not what joinflow import cwl writes: ${why}`);
  }
  const env = process.env;
  // Inside an AWS Batch job the event comes from the environment (or S3) and the output goes to S3.
  const batch = env['JOINFLOW_EVENT'] !== undefined || env['JOINFLOW_EVENT_URI'] || env['JOINFLOW_OUTPUT_URI']
    ? (await import('../adapters/aws/batch-job-io.ts')).createBatchJobIo(env)
    : undefined;
  const raw = (await batch?.readEvent()) ?? (await readStdin());
  let event: z.infer<typeof EventSchema>;
  try {
    event = EventSchema.parse(JSON.parse(raw === '' ? '{}' : raw));
  } catch (error) {
    throw new UsageError(`the step event (stdin or $JOINFLOW_EVENT) must be JSON {input, results, item?}: ${(error as Error).message.split('\n')[0]!}`);
  }
  const runId = env['JOINFLOW_RUN_ID'] ?? 'manual';
  const item = env['JOINFLOW_ITEM'] === undefined ? event.index : Number(env['JOINFLOW_ITEM']);
  const output = await runCwlSpec(spec, {
    event: { input: event.input ?? null, results: event.results, ...(event.item === undefined ? {} : { item: event.item }) },
    baseDir: process.cwd(),
    runDir: workRoot(env, runId),
    runId,
    step: env['JOINFLOW_STEP'] ?? 'step',
    ...(item === undefined ? {} : { item }),
    attempt: Number(env['JOINFLOW_ATTEMPT'] ?? 1),
    env,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  // A tool that printed to stdout without a final newline must not share the output's line.
  const json = JSON.stringify(output);
  await batch?.writeOutput(json);
  process.stdout.write(`\n${json}\n`);
  return 0;
}

/**
 * Where the run's working directories go: $JOINFLOW_CWL_OUTDIR/<runId> when set; else, on the
 * embedded engine, the run's data directory ($JOINFLOW_DATA_DIR/cwl), deleted with the run by
 * `joinflow gc`; else .joinflow/cwl/<runId>.
 */
function workRoot(env: NodeJS.ProcessEnv, runId: string): string {
  const outDir = env['JOINFLOW_CWL_OUTDIR'];
  if (outDir) return path.join(outDir, runId);
  const dataDir = env['JOINFLOW_DATA_DIR'];
  return dataDir ? path.join(dataDir, 'cwl') : path.join('.joinflow', 'cwl', runId);
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.trim();
}
