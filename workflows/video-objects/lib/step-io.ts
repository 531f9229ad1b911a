/**
 * How a step script talks to joinflow in both places it runs. On the embedded engine (`process`,
 * or a `batch` step's `local` command) the event arrives on stdin and the output is the last JSON
 * line on stdout. In an AWS Batch job the event is in $JOINFLOW_EVENT (or, when large, in S3 at
 * $JOINFLOW_EVENT_URI) and the output goes to $JOINFLOW_OUTPUT_URI, where the Batch bridge reads it.
 */
import path from 'node:path';
import { closeStorage, joinLocation, parentLocation, readJson, writeJson } from './storage.ts';

/** The step event, as every executor delivers it. */
export type StepEvent = { input?: unknown; results?: Record<string, unknown>; item?: unknown; index?: number };

/** Reads the step event from the environment (Batch) or stdin (local). */
export async function readStepEvent(env: NodeJS.ProcessEnv = process.env): Promise<StepEvent> {
  const inline = env['JOINFLOW_EVENT'];
  if (inline) return parseEvent(inline, '$JOINFLOW_EVENT');
  const uri = env['JOINFLOW_EVENT_URI'];
  if (uri) return readJson<StepEvent>(uri);
  let raw = '';
  for await (const chunk of process.stdin) raw += chunk;
  return parseEvent(raw, 'stdin');
}

function parseEvent(text: string, where: string): StepEvent {
  try {
    const event = JSON.parse(text) as unknown;
    if (typeof event === 'object' && event !== null && !Array.isArray(event)) return event as StepEvent;
  } catch {
    // reported below, with the rest of the advice
  }
  throw new Error(`the step event on ${where} is not a JSON object: run this script as a joinflow step (joinflow run video-objects)`);
}

/**
 * The run's data directory: `<dataDir>/<runId>` when the input names one; in a Batch job the
 * run's prefix in the stage bucket, next to its outputs (the job role may write there); on the
 * embedded engine `video/` in the run's data directory (`<state>/runs/<runId>/data`, which
 * `joinflow gc` deletes with the run); for a script run by hand, `.joinflow/video-objects/manual`.
 */
export function runDataDir(dataDir: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const runId = env['JOINFLOW_RUN_ID'] || 'manual';
  if (dataDir) return dataDir.startsWith('s3://') ? joinLocation(dataDir, runId) : path.resolve(dataDir, runId);
  const output = env['JOINFLOW_OUTPUT_URI'];
  if (output) return joinLocation(parentLocation(output), 'video');
  const local = env['JOINFLOW_DATA_DIR'];
  if (local) return path.join(local, 'video');
  return path.resolve('.joinflow', 'video-objects', runId);
}

/** Hands the output back: to $JOINFLOW_OUTPUT_URI when set (Batch), and always as the last stdout line. */
export async function writeStepOutput(output: unknown, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const uri = env['JOINFLOW_OUTPUT_URI'];
  if (uri) await writeJson(uri, output);
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

/**
 * Runs a step body: event in, output out. A failure prints its message on stderr (the engine puts
 * the tail in Step Failed; Batch keeps it in the job log) and exits 1, so the step is retried.
 */
export function runStep(body: (event: StepEvent) => Promise<unknown>): void {
  void (async () => {
    try {
      const output = await body(await readStepEvent());
      await writeStepOutput(output);
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exitCode = 1;
    } finally {
      await closeStorage();
    }
  })();
}
