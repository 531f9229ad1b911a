/**
 * What the Lambda handlers and the CLI need to find a stage's resources. Read from environment
 * variables that serverless.yml sets (handlers) or derived from the stage name (CLI).
 */
import { JoinflowError } from '../../model/errors.ts';

/** Names, URLs and maps of one deployed stage. */
export type AwsConfig = {
  /** The endpoint was given on the command line (--endpoint): it wins over AWS_ENDPOINT_URL_<SERVICE> too. */
  endpointGiven?: boolean;
  stage: string;
  table: string;
  bus: string;
  bucket: string | undefined;
  timerQueueUrl: string | undefined;
  /** Where the timer sends a message it can never process, with the reason (the timer queue's DLQ). */
  timerDlqUrl?: string | undefined;
  dlqUrl: string | undefined;
  /** Container queue name -> SQS queue URL. */
  queueUrls: Record<string, string>;
  /**
   * The stage's name prefix (`<service>-<stage>`, JOINFLOW_NAME_PREFIX): step functions and job
   * definitions are found by the names it gives them (resource-names.ts).
   */
  namePrefix?: string | undefined;
  /** "<workflow>/<step>" -> Lambda function name of a function step (overrides the derived name). */
  functions: Record<string, string>;
  /** Batch job queue ARNs. */
  jobQueues: { cpu?: string; gpu?: string };
  /** "<workflow>/<step>" -> Batch job definition name (overrides the derived name). */
  jobDefinitions: Record<string, string>;
  /**
   * How long a claim this function takes (a trigger's fire, a timer's attempt) is left to it before
   * another delivery may take it over (JOINFLOW_LEASE_MS): its timeout plus a margin, set at
   * package time from the deployed timeout (deploy/leases.cjs).
   */
  leaseMs: number;
  /** Points every client at an emulator (AWS_ENDPOINT_URL). */
  endpoint: string | undefined;
  region: string;
};

function json<T>(env: NodeJS.ProcessEnv, name: string, fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw new JoinflowError('CONFIG', `environment variable ${name} is not valid JSON`);
  }
}

/**
 * The lease when JOINFLOW_LEASE_MS is not set (a handler run outside a packaged stage): the
 * deployed processor's, its 50 s timeout plus 5 s (serverless.yml, deploy/leases.cjs).
 */
export const FALLBACK_LEASE_MS = 55_000;

function lease(env: NodeJS.ProcessEnv): number {
  const raw = env['JOINFLOW_LEASE_MS'];
  if (raw === undefined || raw === '') return FALLBACK_LEASE_MS;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new JoinflowError('CONFIG', `environment variable JOINFLOW_LEASE_MS must be a whole number of milliseconds, more than 0, got ${JSON.stringify(raw)}`);
  return ms;
}

/** The configuration of the current Lambda (or worker) from its environment. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): AwsConfig {
  const stage = env['JOINFLOW_STAGE'] ?? 'dev';
  return {
    stage,
    table: env['JOINFLOW_TABLE'] ?? `joinflow-${stage}`,
    bus: env['JOINFLOW_BUS'] ?? `joinflow-${stage}`,
    bucket: env['JOINFLOW_BUCKET'] || undefined,
    timerQueueUrl: env['JOINFLOW_TIMER_QUEUE_URL'] || undefined,
    timerDlqUrl: env['JOINFLOW_TIMER_DLQ_URL'] || undefined,
    dlqUrl: env['JOINFLOW_DLQ_URL'] || undefined,
    namePrefix: env['JOINFLOW_NAME_PREFIX'] || undefined,
    queueUrls: json(env, 'JOINFLOW_QUEUE_URLS', {}),
    functions: json(env, 'JOINFLOW_FUNCTIONS', {}),
    jobQueues: json(env, 'JOINFLOW_JOB_QUEUES', {}),
    jobDefinitions: json(env, 'JOINFLOW_JOB_DEFINITIONS', {}),
    leaseMs: lease(env),
    endpoint: env['AWS_ENDPOINT_URL'] || undefined,
    region: env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
  };
}

/** The AWS services joinflow talks to, named as in AWS_ENDPOINT_URL_<SERVICE>. */
export type AwsService = 'dynamodb' | 's3' | 'sqs' | 'eventbridge' | 'lambda' | 'batch';

/**
 * Options an SDK client gets: region, and an emulator endpoint when one is set — the service's
 * own AWS_ENDPOINT_URL_<SERVICE> (emulators each have their own port) or the shared one; an
 * endpoint given on the command line (`endpointGiven`) before either.
 */
export function clientOptions(
  config: Pick<AwsConfig, 'endpoint' | 'region' | 'endpointGiven'>,
  service?: AwsService,
  env: NodeJS.ProcessEnv = process.env,
): { region: string; endpoint?: string; forcePathStyle?: boolean } {
  const own = service && !config.endpointGiven ? env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`] : undefined;
  const endpoint = own || config.endpoint;
  if (!endpoint) return { region: config.region };
  // Emulators serve buckets by path, not by virtual host.
  return service === 's3' ? { region: config.region, endpoint, forcePathStyle: true } : { region: config.region, endpoint };
}
