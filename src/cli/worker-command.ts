/** `joinflow worker`: runs container steps from an SQS task queue until SIGTERM/SIGINT. Wiring only. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configFromEnv } from '../adapters/aws/config.ts';
import { createAwsWorker } from '../adapters/aws/aws-worker.ts';
import type { WorkerLogger } from '../adapters/aws/worker.ts';
import { createFunctionExecutor } from '../adapters/local/function-executor.ts';
import { createProcessExecutor } from '../adapters/local/process-executor.ts';
import { UsageError } from '../model/errors.ts';

/** Help of `joinflow worker`, in the style of help.ts. */
export { WORKER_HELP } from './help-worker.ts';

/** What the orchestrator's stop timeout (ECS: 30 s by default) leaves after our own cleanup. */
const GRACE_MS = 25_000;

function positiveInt(flag: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be an integer from 1 to ${max} (got "${raw}")`);
  return n;
}

/** Runs `joinflow worker`; resolves with the exit code (0 after a clean stop). */
export async function workerCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      queue: { type: 'string' },
      stage: { type: 'string' },
      bus: { type: 'string' },
      table: { type: 'string' },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      concurrency: { type: 'string' },
      visibility: { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.queue === undefined || values.queue === '') throw new UsageError('--queue URL is required (the SQS queue of the container steps)');
  const queueUrl = values.queue;
  const concurrency = positiveInt('--concurrency', values.concurrency, 1, 1000);
  // SQS caps a visibility timeout at 12 hours.
  const visibilityTimeoutSec = positiveInt('--visibility', values.visibility, 60, 43_200);
  if (values.stage === '') throw new UsageError('--stage must name a stage');
  // --stage names the bus and the table (joinflow-<stage>) over $JOINFLOW_BUS / $JOINFLOW_TABLE;
  // without it the stage is $JOINFLOW_STAGE, else dev.
  const config = configFromEnv(values.stage === undefined ? process.env : { ...process.env, JOINFLOW_STAGE: values.stage, JOINFLOW_BUS: undefined, JOINFLOW_TABLE: undefined });
  const endpoint = values.endpoint ?? config.endpoint;

  const write = (line: string): void => void process.stderr.write(`joinflow worker: ${line}\n`);
  const logger: WorkerLogger = { info: write, warn: write, error: write };
  const executors = {
    function: createFunctionExecutor({ threads: concurrency }),
    process: createProcessExecutor({ logDir: (task) => join(tmpdir(), 'joinflow-worker', task.runId) }),
  };
  const worker = createAwsWorker({
    queueUrl,
    busName: values.bus ?? config.bus,
    // Tasks of runs that have ended are skipped or stopped; --table '' turns the check off.
    ...((values.table ?? config.table) === '' ? {} : { table: values.table ?? config.table }),
    region: values.region ?? config.region,
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(config.bucket === undefined ? {} : { bucket: config.bucket }),
    executors,
    concurrency,
    visibilityTimeoutSec,
    graceMs: GRACE_MS,
    logger,
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    write(signals === 1 ? `${signal}: stopping after running tasks (up to ${GRACE_MS / 1000} s)` : `${signal}: aborting running tasks`);
    // A second signal means "now": running tasks are aborted and their messages handed back.
    void worker.stop(signals === 1 ? {} : { graceMs: 0 });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const table = values.table ?? config.table;
  write(`polling ${queueUrl} (concurrency ${concurrency}, visibility ${visibilityTimeoutSec} s; bus ${values.bus ?? config.bus}, ${table === '' ? 'no run status check' : `run status from table ${table}`})`);
  try {
    await worker.run();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await Promise.all([executors.function.close(), executors.process.close()]);
    worker.close();
  }
  write('stopped');
  return 0;
}
