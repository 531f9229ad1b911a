/** Options shared by the commands that talk to a deployed stage (or an emulator). */
import { configFromEnv, type AwsConfig } from '../adapters/aws/config.ts';
import { UsageError } from '../model/errors.ts';

/** parseArgs option specs for --stage, --region, --endpoint, --bus, --table. */
export const AWS_OPTIONS = {
  stage: { type: 'string' },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  bus: { type: 'string' },
  table: { type: 'string' },
} as const;

/** Whether any AWS flag was given: the command then works on a deployed stage, not the local engine. */
export function usesAws(values: Partial<Record<keyof typeof AWS_OPTIONS, string | undefined>>): boolean {
  return (Object.keys(AWS_OPTIONS) as Array<keyof typeof AWS_OPTIONS>).some((k) => values[k] !== undefined);
}

/** The stage's resource names: joinflow-<stage> for bus and table unless given. */
export function awsConfig(values: { stage?: string | undefined; region?: string | undefined; endpoint?: string | undefined; bus?: string | undefined; table?: string | undefined }): AwsConfig {
  // As serverless.yml's deploy refuses it: the stage names the bus, table, queues and functions.
  if (values.stage !== undefined && !/^[a-zA-Z0-9-]+$/.test(values.stage)) throw new UsageError(`--stage "${values.stage}": a stage name has only letters, digits and dashes`);
  if (values.endpoint !== undefined && !(URL.canParse(values.endpoint) && /^https?:$/.test(new URL(values.endpoint).protocol))) {
    throw new UsageError(`--endpoint "${values.endpoint}": not an http:// or https:// URL (such as http://127.0.0.1:4010 for joinflow dev)`);
  }
  const env = { ...process.env };
  if (values.stage) env['JOINFLOW_STAGE'] = values.stage;
  const base = configFromEnv(env);
  const stage = values.stage ?? base.stage;
  return {
    ...base,
    stage,
    bus: values.bus ?? (values.stage ? `joinflow-${stage}` : base.bus),
    table: values.table ?? (values.stage ? `joinflow-${stage}` : base.table),
    endpoint: values.endpoint ?? base.endpoint,
    ...(values.endpoint === undefined ? {} : { endpointGiven: true }),
    region: values.region ?? base.region,
  };
}

