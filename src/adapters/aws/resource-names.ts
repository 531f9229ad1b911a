/**
 * The names `serverless package` gives a stage's step functions and Batch job definitions
 * (deploy/lib.cjs, `boundedName`), derived here the same way from the stage's name prefix
 * (`<service>-<stage>`, JOINFLOW_NAME_PREFIX). The processor and the timer find a step's
 * function or job definition by them, so that their environment does not list every step: Lambda
 * allows 4 KB of environment, which a map of every name filled at about 45 steps per stage.
 * deploy/ is CommonJS and cannot import this file: test/aws/resource-names.test.ts checks that both
 * give the same names.
 */
import { createHash } from 'node:crypto';

/** Lambda function names: at most 64 characters. */
const LAMBDA_NAME_CHARS = 64;
/** Batch job definition names: at most 128 characters. */
const JOB_DEFINITION_NAME_CHARS = 128;

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** Letters, digits and `-`. */
function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/** `<prefix><slug of parts joined by "-">-<hash of the parts>`, cut to fit `max` characters. */
function boundedName(prefix: string, parts: readonly string[], max: number): string {
  const suffix = `-${hash(parts.join('/'))}`;
  const room = max - prefix.length - suffix.length;
  if (room < 0) throw new Error(`the name prefix "${prefix}" leaves no room under the ${max}-character limit`);
  const body = slug(parts.map(slug).join('-')).slice(0, room).replace(/-+$/, '');
  return `${prefix}${body}${suffix}`.replace(/--+/g, '-');
}

/**
 * The Lambda function of a function step. Steps that give `params` share their workflow's function
 * of their module and export (named by the module's file name without its extension).
 */
export function stepFunctionName(namePrefix: string, workflow: string, step: string, executor: { module: string; export: string; params?: unknown }): string {
  if (executor.params === undefined) return boundedName(`${namePrefix}-s-`, [workflow, step], LAMBDA_NAME_CHARS);
  const file = executor.module.replace(/^.*\//, '').replace(/\.[^.]+$/, '');
  return boundedName(`${namePrefix}-s-`, [workflow, file, executor.export], LAMBDA_NAME_CHARS);
}

/**
 * The Batch job definition of a batch step (or of an `auto` step's Batch fallback): one per
 * workflow, image and platform (EC2 for GPU steps, Fargate for the others), shared by the steps
 * that run that image. A step's command, environment, resources and time-out go with each job it
 * submits, so a trace of thousands of tasks needs a handful of definitions, not one each
 * (CloudFormation allows 500 resources a stack).
 */
export function jobDefinitionName(namePrefix: string, workflow: string, executor: { image: string; gpus?: number }): string {
  return boundedName(`${namePrefix}-j-`, [workflow, executor.image, (executor.gpus ?? 0) > 0 ? 'gpu' : 'cpu'], JOB_DEFINITION_NAME_CHARS);
}
