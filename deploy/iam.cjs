'use strict';
/**
 * IAM: one role per Lambda function (processor, each bridge, timer, each function step), least
 * privilege: every Action is named (no `*`), every Resource is this stage's table (+ index), bus,
 * bucket prefix, queues, step functions, job queues / definitions, and the function's own log group.
 *
 * serverless.yml attaches them with `functions.<key>.role: <logical id>` and includes
 * `${file(./deploy/iam.cjs):resources}`.
 */
const { BLOB_PREFIX, DATA_PREFIX, OUTPUT_PREFIX, arn, context } = require('./lib.cjs');
const { workflowExtras } = require('./workflow-resources.cjs');

/** Above this many ARNs a statement names the stage's prefix instead (inline policies: 10,240 characters per role). */
const MAX_LISTED = 40;

const TABLE = { 'Fn::GetAtt': ['Table', 'Arn'] };
const TABLE_INDEXES = { 'Fn::Sub': '${Table.Arn}/index/*' };
const BUS = { 'Fn::GetAtt': ['EventBus', 'Arn'] };
const EVENTS_DLQ = { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] };
const TIMER_QUEUE = { 'Fn::GetAtt': ['TimerQueue', 'Arn'] };
const objects = (prefix) => ({ 'Fn::Sub': `\${Bucket.Arn}/${prefix}*` });

function allow(Action, Resource) {
  return { Effect: 'Allow', Action, Resource };
}

/** A role Lambda assumes, with the log permissions of its function's log group. */
function lambdaRole(functionName, description, statements) {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: description.slice(0, 1000),
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      },
      Policies: [
        {
          PolicyName: 'joinflow',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              // serverless creates the log group (<Function>LogGroup) before the function.
              allow(['logs:CreateLogStream', 'logs:PutLogEvents'], arn('logs', `log-group:/aws/lambda/${functionName}:*`)),
              ...statements.filter(Boolean),
            ],
          },
        },
      ],
    },
  };
}

/** The statements that let a function dispatch tasks (processor and timer). */
function dispatchStatements(model) {
  const { functionSteps, batchSteps, taskQueues, names, hasBatch } = model;
  const out = [];
  if (functionSteps.length > 0) {
    const fns = functionSteps.length <= MAX_LISTED
      ? functionSteps.map((f) => arn('lambda', `function:${f.name}`))
      : [arn('lambda', `function:${names.prefix}-s-*`)];
    out.push(allow(['lambda:InvokeFunction'], fns));
  }
  if (hasBatch) {
    const defs = batchSteps.length <= MAX_LISTED
      ? batchSteps.flatMap((b) => [arn('batch', `job-definition/${b.name}`), arn('batch', `job-definition/${b.name}:*`)])
      : [arn('batch', `job-definition/${names.prefix}-*`)];
    out.push(allow(['batch:SubmitJob'], [{ Ref: 'CpuJobQueue' }, { Ref: 'GpuJobQueue' }, ...defs]));
    // SubmitJob passes tags (joinflow:run, joinflow:step): tagging on create needs TagResource.
    out.push(allow(['batch:TagResource'], arn('batch', 'job/*')));
  }
  out.push(allow(['sqs:SendMessage'], [TIMER_QUEUE, ...taskQueues.map((q) => ({ 'Fn::GetAtt': [q.logicalId, 'Arn'] }))]));
  return out;
}

function iamResources(model) {
  const { names, functionSteps, settings } = model;
  const n = names.internal;
  const putEvents = allow(['events:PutEvents'], BUS);
  const claimChecks = allow(['s3:GetObject', 's3:PutObject'], objects(BLOB_PREFIX));
  const Resources = {
    ProcessorRole: lambdaRole(n.processor, 'joinflow trigger processor: join counters, dispatch, events', [
      // What src/adapters/aws/dynamodb-store.ts calls (single-item operations, no transactions).
      allow(['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [TABLE, TABLE_INDEXES]),
      putEvents,
      claimChecks,
      ...dispatchStatements(model),
      // Undeliverable events (and, as the async-invoke failure destination, failed invocations).
      allow(['sqs:SendMessage'], EVENTS_DLQ),
    ]),
    TimerRole: lambdaRole(n.timer, 'joinflow timer: dispatches retries whose backoff has passed', [
      allow(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'], TIMER_QUEUE),
      allow(['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'], [TABLE, TABLE_INDEXES]),
      putEvents,
      claimChecks,
      ...dispatchStatements(model),
    ]),
    LambdaResultBridgeRole: lambdaRole(n.lambdaResultBridge, 'joinflow bridge: Lambda destination records -> step events', [
      putEvents,
      claimChecks,
      allow(['sqs:SendMessage'], EVENTS_DLQ),
    ]),
    BatchStateBridgeRole: lambdaRole(n.batchStateBridge, 'joinflow bridge: Batch job state changes -> step events', [
      putEvents,
      claimChecks,
      allow(['s3:GetObject'], objects(OUTPUT_PREFIX)),
      // HeadObject of declared output files (needs GetObject).
      allow(['s3:GetObject'], objects(DATA_PREFIX)),
      allow(['sqs:SendMessage'], EVENTS_DLQ),
    ]),
    S3StartBridgeRole: lambdaRole(n.s3StartBridge, 'joinflow bridge: uploads start runs', [
      putEvents,
      claimChecks,
      allow(['s3:GetObject'], objects(settings.startPrefix)),
      allow(['sqs:SendMessage'], EVENTS_DLQ),
    ]),
  };
  const extras = workflowExtras(model);
  for (const f of functionSteps) {
    // A step's handler is user code: it may only report its result (Lambda destinations to the
    // bus), plus what its workflow's aws.cjs grants it by name (workflow-resources.cjs).
    Resources[`${f.logicalId}Role`] = lambdaRole(f.name, `joinflow step ${f.id}`, [putEvents, ...extras.statements(f)]);
  }
  return { Resources };
}

module.exports = {
  iamResources,
  lambdaRole,
  /** `${file(./deploy/iam.cjs):resources}` */
  resources: async (vars) => iamResources(await context(vars)),
};
