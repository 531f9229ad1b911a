'use strict';
/**
 * Lambda functions generated from the plans, and the environment of joinflow's own functions.
 *
 * serverless.yml:
 *   functions:
 *     - processor: { ..., environment: ${file(./deploy/functions.cjs):environment.processor} }
 *     - ${file(./deploy/functions.cjs):steps}
 *
 * One function per `function` step of every plan (an `auto` step placed on Lambda is one, with the
 * memory its placement chose): handler = the step's module (without its
 * extension) + "." + export, bundled by serverless-esbuild; asynchronous invocations report to the
 * stage's bus through Lambda destinations (the Lambda-result bridge turns the records into Step
 * Completed / Step Failed); Lambda does not retry (joinflow does, per the step's retry policy).
 */
const fs = require('node:fs');
const path = require('node:path');
const { LIMITS, SERVICE_DIR, generator } = require('./lib.cjs');
const { workflowExtras } = require('./workflow-resources.cjs');

const BUS_ARN = { 'Fn::GetAtt': ['EventBus', 'Arn'] };

/**
 * Why a handler module cannot be bundled, or undefined. serverless-esbuild reports a missing one as
 * "Compilation failed for function alias <key>. Please ensure you have an index file with ext .ts
 * or .js" among stack frames, naming neither the step nor the module; and it zips a module outside
 * the service directory as an empty package (every invocation would fail with
 * Runtime.ImportModuleError).
 */
function handlerModuleProblem(module, serviceDir = SERVICE_DIR) {
  const file = path.resolve(serviceDir, module);
  const inside = path.relative(serviceDir, file);
  if (inside === '' || inside.startsWith('..') || path.isAbsolute(inside)) {
    return `is outside the service directory (${serviceDir}): serverless packages only files under it, so its functions would be deployed empty and fail every invocation; move the module into the project and run 'joinflow compile' again`;
  }
  let isFile = false;
  try {
    isFile = fs.statSync(file).isFile();
  } catch {
    // missing: said below
  }
  if (!isFile) {
    return `does not exist (looked for ${file}): it was moved, renamed or deleted since 'joinflow compile'; restore it, or fix the workflow and compile again`;
  }
  return undefined;
}

/** Every function step whose handler module cannot be bundled, one line per module. */
function handlerModuleProblems(model, serviceDir = SERVICE_DIR) {
  const byModule = new Map();
  for (const f of model.functionSteps) byModule.set(f.module, [...(byModule.get(f.module) || []), ...(f.members || [f.id])]);
  const problems = [];
  for (const [module, steps] of byModule) {
    const problem = handlerModuleProblem(module, serviceDir);
    if (problem) problems.push(`handler module ${module} of step${steps.length === 1 ? '' : 's'} ${steps.join(', ')} ${problem}`);
  }
  return problems;
}

/** serverless `functions` entries of the function steps. */
function stepFunctions(model) {
  const problems = handlerModuleProblems(model);
  if (problems.length > 0) throw new Error(problems.join('\n  '));
  const functions = {};
  const extras = workflowExtras(model);
  for (const f of model.functionSteps) {
    functions[f.key] = {
      name: f.name,
      description: (f.members ? `joinflow steps of ${f.workflow} run by ${f.handler} (${f.members.length})` : `joinflow step ${f.id}`).slice(0, 256),
      handler: f.handler,
      role: `${f.logicalId}Role`,
      timeout: f.timeout,
      memorySize: f.memoryMb ?? model.settings.stepMemoryMb,
      maximumRetryAttempts: 0,
      destinations: {
        onSuccess: { type: 'eventBus', arn: BUS_ARN },
        onFailure: { type: 'eventBus', arn: BUS_ARN },
      },
      // Plus what the workflow's aws.cjs gives the step (workflow-resources.cjs).
      // JOINFLOW_BUCKET: the stage's bucket, whose steps/<workflow>/ the step may read and write.
      environment: { ...extras.environment(f), JOINFLOW_WORKFLOW: f.workflow, ...(f.members ? {} : { JOINFLOW_STEP: f.step }), JOINFLOW_BUCKET: { Ref: 'Bucket' } },
    };
  }
  return functions;
}

/** `{"k":"${v0}",...}` as Fn::Sub, so that a JSON map can hold CloudFormation references. */
function jsonSub(entries) {
  if (entries.length === 0) return '{}';
  const vars = {};
  const body = entries
    .map(([k, v], i) => {
      if (typeof v === 'string') return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
      vars[`v${i}`] = v;
      return `${JSON.stringify(k)}:"\${v${i}}"`;
    })
    .join(',');
  return Object.keys(vars).length === 0 ? `{${body}}` : { 'Fn::Sub': [`{${body}}`, vars] };
}

/** Environment of each of joinflow's own functions (keys are serverless function keys). */
function environments(model) {
  const { names, stage } = model;
  const common = {
    JOINFLOW_STAGE: stage,
    JOINFLOW_TABLE: { Ref: 'Table' },
    JOINFLOW_BUS: { Ref: 'EventBus' },
    JOINFLOW_BUCKET: { Ref: 'Bucket' },
  };
  const dispatching = {
    ...common,
    JOINFLOW_TIMER_QUEUE_URL: { Ref: 'TimerQueue' },
    JOINFLOW_DLQ_URL: { Ref: 'EventsDeadLetterQueue' },
    JOINFLOW_QUEUE_URLS: jsonSub(model.taskQueues.map((q) => [q.queue, { Ref: q.logicalId }])),
    // Step functions and job definitions are found by the names this prefix gives them
    // (src/adapters/aws/resource-names.ts, as lib.cjs names them): a map of every name filled
    // Lambda's 4 KB of environment at about 45 steps per stage.
    JOINFLOW_NAME_PREFIX: names.prefix,
    JOINFLOW_JOB_QUEUES: jsonSub(model.hasBatch ? [['cpu', { Ref: 'CpuJobQueue' }], ['gpu', { Ref: 'GpuJobQueue' }]] : []),
    ...(model.settings.maxForEachItems === undefined ? {} : { JOINFLOW_MAX_FOREACH_ITEMS: String(model.settings.maxForEachItems) }),
  };
  const env = {
    processor: dispatching,
    // Where the timer sends a message it can never process, with the reason (handlers/timer.ts).
    timer: { ...dispatching, JOINFLOW_TIMER_DLQ_URL: { Ref: 'TimerDeadLetterQueue' } },
    lambdaResultBridge: common,
    batchStateBridge: common,
    // An upload that can start no run (no such workflow, the object gone) goes to the events DLQ.
    s3StartBridge: { ...common, JOINFLOW_START_PREFIX: model.settings.startPrefix, JOINFLOW_DLQ_URL: { Ref: 'EventsDeadLetterQueue' } },
  };
  for (const [fn, vars] of Object.entries(env)) {
    const bytes = envBytes(vars, model);
    if (bytes > LIMITS.lambdaEnvBytes) {
      throw new Error(
        `the environment of ${names.internal[fn]} would be about ${bytes} bytes, over Lambda's ${LIMITS.lambdaEnvBytes}: ` +
          `${model.taskQueues.length} container queues are listed in it; use fewer queue names, or deploy the workflows as several services (stages)`,
      );
    }
  }
  return env;
}

/** Size of an environment once deployed: references are replaced by what they resolve to. */
function envBytes(vars, model) {
  const { names, region } = model;
  const account = '123456789012';
  const resolved = {
    Table: names.table,
    EventBus: names.bus,
    // CloudFormation names the bucket (<stack>-bucket-<suffix>, at most 63 characters).
    Bucket: 'x'.repeat(63),
    TimerQueue: `https://sqs.${region}.amazonaws.com/${account}/${names.timerQueue}`,
    EventsDeadLetterQueue: `https://sqs.${region}.amazonaws.com/${account}/${names.eventsDlq}`,
    TimerDeadLetterQueue: `https://sqs.${region}.amazonaws.com/${account}/${names.timerDlq}`,
    CpuJobQueue: `arn:aws:batch:${region}:${account}:job-queue/${names.cpuJobQueue}`,
    GpuJobQueue: `arn:aws:batch:${region}:${account}:job-queue/${names.gpuJobQueue}`,
  };
  for (const q of model.taskQueues) resolved[q.logicalId] = `https://sqs.${region}.amazonaws.com/${account}/${q.name}`;
  const text = (v) => {
    if (typeof v === 'string') return v;
    if (v.Ref) return resolved[v.Ref] ?? 'x'.repeat(128);
    if (v['Fn::Sub']) {
      const [template, subs] = v['Fn::Sub'];
      return template.replace(/\$\{(\w+)\}/g, (_, k) => text(subs[k]));
    }
    return 'x'.repeat(128);
  };
  return Object.entries(vars).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(text(v)), 0);
}

module.exports = {
  environments,
  envBytes,
  handlerModuleProblems,
  jsonSub,
  stepFunctions,
  /** `${file(./deploy/functions.cjs):steps}` */
  steps: generator(stepFunctions),
  /** `${file(./deploy/functions.cjs):environment.<function key>}` */
  environment: generator(environments),
};
