'use strict';
/**
 * IAM: one role per Lambda function (processor, each bridge, timer, each function step), least
 * privilege: every Action is named (no `*`), every Resource is this stage's table (+ index), bus,
 * bucket prefix, queues, step functions, job queues / definitions, and the function's own log group.
 * A role that reads keys under a prefix may also list that prefix (listUnder), so that S3 reports a
 * missing key as missing. The processor and timer name each step they dispatch to until that
 * would pass IAM's 10,240 characters per role, then the stage's name prefix (dispatchRole).
 *
 * serverless.yml attaches them with `functions.<key>.role: <logical id>` and includes
 * `${file(./deploy/iam.cjs):resources}`.
 */
const { BLOB_PREFIX, DATA_PREFIX, LIMITS, OUTPUT_PREFIX, STEP_DATA_PREFIX, arn, generator } = require('./lib.cjs');
const { resolver, roleInlineChars } = require('./policy-size.cjs');
const { workflowExtras } = require('./workflow-resources.cjs');

const TABLE = { 'Fn::GetAtt': ['Table', 'Arn'] };
const TABLE_INDEXES = { 'Fn::Sub': '${Table.Arn}/index/*' };
const BUS = { 'Fn::GetAtt': ['EventBus', 'Arn'] };
const EVENTS_DLQ = { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] };
const TIMER_QUEUE = { 'Fn::GetAtt': ['TimerQueue', 'Arn'] };
const TIMER_DLQ = { 'Fn::GetAtt': ['TimerDeadLetterQueue', 'Arn'] };
const objects = (prefix) => ({ 'Fn::Sub': `\${Bucket.Arn}/${prefix}*` });

function allow(Action, Resource) {
  return { Effect: 'Allow', Action, Resource };
}

/**
 * s3:ListBucket on the bucket, for keys under `prefixes` only (s3:prefix). A role gets it for what
 * it may read: without it, S3 answers a GetObject / HeadObject of a missing key with 403
 * AccessDenied instead of 404 NoSuchKey, and the handlers tell "not there" (a Batch job that wrote
 * no output, an absent data file, an expired claim check) from "denied" by that.
 */
function listUnder(prefixes) {
  return {
    Effect: 'Allow',
    Action: ['s3:ListBucket'],
    Resource: { 'Fn::GetAtt': ['Bucket', 'Arn'] },
    Condition: { StringLike: { 's3:prefix': [...new Set(prefixes)].map((p) => `${p}*`) } },
  };
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

/**
 * The statements that let a function dispatch tasks (processor and timer): each step function,
 * job definition and task queue by ARN, or, with `byPrefix`, by the stage's name prefix
 * (`<prefix>-s-*` functions, `<prefix>-j-*` job definitions, `<prefix>-q-*` queues), which keeps
 * the role within the stage however many steps it has.
 */
function dispatchStatements(model, byPrefix = false) {
  const { functionSteps, batchSteps, taskQueues, names, hasBatch } = model;
  const out = [];
  if (functionSteps.length > 0) {
    const fns = byPrefix ? [arn('lambda', `function:${names.prefix}-s-*`)] : functionSteps.map((f) => arn('lambda', `function:${f.name}`));
    out.push(allow(['lambda:InvokeFunction'], fns));
  }
  if (hasBatch) {
    const defs = byPrefix
      ? [arn('batch', `job-definition/${names.prefix}-j-*`)]
      : [...new Set(batchSteps.map((b) => b.name))].flatMap((name) => [arn('batch', `job-definition/${name}`), arn('batch', `job-definition/${name}:*`)]);
    out.push(allow(['batch:SubmitJob'], [{ Ref: 'CpuJobQueue' }, { Ref: 'GpuJobQueue' }, ...defs]));
    // SubmitJob passes tags (joinflow:run, joinflow:step): tagging on create needs TagResource.
    out.push(allow(['batch:TagResource'], arn('batch', 'job/*')));
  }
  const queues = byPrefix ? [arn('sqs', `${names.prefix}-q-*`)] : taskQueues.map((q) => ({ 'Fn::GetAtt': [q.logicalId, 'Arn'] }));
  out.push(allow(['sqs:SendMessage'], [TIMER_QUEUE, ...queues]));
  return out;
}

/**
 * Stopping a run's Batch jobs (src/adapters/aws/batch-jobs.ts): TerminateJob on its jobs, and
 * ListJobs and DescribeJobs to find one whose id was never noted. Batch offers no narrower
 * resource for those two than `*`.
 */
function stopJobsStatements(model) {
  if (!model.hasBatch) return [];
  return [allow(['batch:TerminateJob'], arn('batch', 'job/*')), allow(['batch:ListJobs', 'batch:DescribeJobs'], '*')];
}

/** The stage's own resources that policies name, as policy-size.cjs resolves them. */
function stageResources(model) {
  const { names } = model;
  const queue = (QueueName) => ({ Type: 'AWS::SQS::Queue', Properties: { QueueName } });
  const resources = {
    Table: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: names.table } },
    EventBus: { Type: 'AWS::Events::EventBus', Properties: { Name: names.bus } },
    Bucket: { Type: 'AWS::S3::Bucket', Properties: {} },
    TimerQueue: queue(names.timerQueue),
    TimerDeadLetterQueue: queue(names.timerDlq),
    EventsDeadLetterQueue: queue(names.eventsDlq),
    CpuJobQueue: { Type: 'AWS::Batch::JobQueue', Properties: { JobQueueName: names.cpuJobQueue } },
    GpuJobQueue: { Type: 'AWS::Batch::JobQueue', Properties: { JobQueueName: names.gpuJobQueue } },
  };
  for (const q of model.taskQueues) resources[q.logicalId] = queue(q.name);
  return resources;
}

/**
 * A dispatching role: every ARN listed while the role's policy stays within IAM's 10,240
 * characters (as deployed), else the stage's name prefix (guard.cjs checks the final template).
 */
function dispatchRole(model, functionName, description, statements) {
  const listed = lambdaRole(functionName, description, [...statements, ...dispatchStatements(model)]);
  const text = resolver(stageResources(model), model.region);
  if (roleInlineChars(listed, text) <= LIMITS.roleInlinePolicyChars) return listed;
  return lambdaRole(functionName, description, [...statements, ...dispatchStatements(model, true)]);
}

function iamResources(model) {
  const { functionSteps, settings } = model;
  const n = model.names.internal;
  const putEvents = allow(['events:PutEvents'], BUS);
  const claimChecks = allow(['s3:GetObject', 's3:PutObject'], objects(BLOB_PREFIX));
  const Resources = {
    ProcessorRole: dispatchRole(model, n.processor, 'joinflow trigger processor: join counters, dispatch, events', [
      // What src/adapters/aws/dynamodb-store.ts calls (single-item operations, no transactions),
      // and timer-dues.ts's UpdateItem noting when a delayed start or a retry is due.
      allow(['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [TABLE, TABLE_INDEXES]),
      putEvents,
      claimChecks,
      listUnder([BLOB_PREFIX]),
      // Undeliverable events (and, as the async-invoke failure destination, failed invocations).
      allow(['sqs:SendMessage'], EVENTS_DLQ),
      // A run that ends stops the Batch jobs it left running (src/adapters/aws/batch-jobs.ts).
      ...stopJobsStatements(model),
    ]),
    TimerRole: dispatchRole(model, n.timer, 'joinflow timer: dispatches retries whose backoff has passed', [
      allow(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'], TIMER_QUEUE),
      // A message it can never process goes to the timer DLQ at once, with the reason.
      allow(['sqs:SendMessage'], TIMER_DLQ),
      allow(['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'], [TABLE, TABLE_INDEXES]),
      // Each due attempt is claimed before it is dispatched, so that a duplicate message does not
      // run it twice (src/adapters/aws/handlers/timer.ts); a retry submitted to Batch is noted in
      // its run's items (batch-jobs.ts), and stopped at once if its run ended meanwhile.
      allow(['dynamodb:UpdateItem'], TABLE),
      ...stopJobsStatements(model),
      putEvents,
      claimChecks,
      listUnder([BLOB_PREFIX]),
    ]),
    LambdaResultBridgeRole: lambdaRole(n.lambdaResultBridge, 'joinflow bridge: Lambda destination records -> step events', [
      putEvents,
      claimChecks,
      listUnder([BLOB_PREFIX]),
      allow(['sqs:SendMessage'], EVENTS_DLQ),
    ]),
    BatchStateBridgeRole: lambdaRole(n.batchStateBridge, 'joinflow bridge: Batch job state changes -> step events', [
      putEvents,
      claimChecks,
      allow(['s3:GetObject'], objects(OUTPUT_PREFIX)),
      // HeadObject of declared output files (needs GetObject).
      allow(['s3:GetObject'], objects(DATA_PREFIX)),
      // A job may write no output (null), or skip a declared file: both must read as missing.
      listUnder([BLOB_PREFIX, OUTPUT_PREFIX, DATA_PREFIX]),
      allow(['sqs:SendMessage'], EVENTS_DLQ),
      // A job that ended leaves its run's list of jobs to stop (batch-jobs.ts).
      allow(['dynamodb:UpdateItem'], TABLE),
    ]),
    S3StartBridgeRole: lambdaRole(n.s3StartBridge, 'joinflow bridge: uploads start runs', [
      putEvents,
      claimChecks,
      allow(['s3:GetObject'], objects(settings.startPrefix)),
      listUnder([BLOB_PREFIX, settings.startPrefix]),
      allow(['sqs:SendMessage'], EVENTS_DLQ),
    ]),
  };
  const extras = workflowExtras(model);
  for (const f of functionSteps) {
    // A step's handler is user code: it may report its result (Lambda destinations to the bus),
    // read the input of its workflow's runs started by an upload ({object: {bucket, key}}), and
    // read and write its workflow's data prefix in the stage's bucket (large data passed by key),
    // plus what its workflow's aws.cjs grants it by name (workflow-resources.cjs).
    const uploads = `${settings.startPrefix}${f.workflow}/`;
    const data = `${STEP_DATA_PREFIX}${f.workflow}/`;
    Resources[`${f.logicalId}Role`] = lambdaRole(f.name, `joinflow step ${f.id}`, [
      putEvents,
      allow(['s3:GetObject'], objects(uploads)),
      allow(['s3:GetObject', 's3:PutObject'], objects(data)),
      // So that a missing key reads as missing (404), not as denied.
      listUnder([uploads, data]),
      ...extras.statements(f),
    ]);
  }
  return { Resources };
}

module.exports = {
  dispatchStatements,
  iamResources,
  lambdaRole,
  listUnder,
  /** `${file(./deploy/iam.cjs):resources}` */
  resources: generator(iamResources),
};
