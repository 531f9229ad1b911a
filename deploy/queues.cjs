'use strict';
/**
 * SQS task queues of container steps: one per distinct `queue` name in the plans (at least
 * `default`), each with a dead-letter queue (a task received 5 times without being deleted moves
 * there; the worker sends a malformed one there at once), and a managed policy to attach to the
 * roles of `joinflow worker` containers. Task queues are named <prefix>-q-<queue>, their dead-letter queues <prefix>-dlq-<queue> (lib.buildModel).
 *
 * serverless.yml: `resources: - ${file(./deploy/queues.cjs):resources}`
 */
const { BLOB_PREFIX, DATA_PREFIX, generator } = require('./lib.cjs');
const { listUnder } = require('./iam.cjs');

/** How long a worker holds a task before it must extend the visibility (the worker does). */
const TASK_VISIBILITY_SECONDS = 300;
const FOURTEEN_DAYS = 1209600;

function queueResources(model) {
  const Resources = {};
  const Outputs = {};
  for (const q of model.taskQueues) {
    Resources[q.dlqLogicalId] = {
      Type: 'AWS::SQS::Queue',
      Properties: { QueueName: q.dlqName, MessageRetentionPeriod: FOURTEEN_DAYS, SqsManagedSseEnabled: true },
    };
    Resources[q.logicalId] = {
      Type: 'AWS::SQS::Queue',
      Properties: {
        QueueName: q.name,
        VisibilityTimeout: TASK_VISIBILITY_SECONDS,
        MessageRetentionPeriod: FOURTEEN_DAYS,
        SqsManagedSseEnabled: true,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [q.dlqLogicalId, 'Arn'] }, maxReceiveCount: 5 },
      },
    };
  }
  const queueArns = model.taskQueues.map((q) => ({ 'Fn::GetAtt': [q.logicalId, 'Arn'] }));
  const dlqArns = model.taskQueues.map((q) => ({ 'Fn::GetAtt': [q.dlqLogicalId, 'Arn'] }));
  Resources.WorkerPolicy = {
    Type: 'AWS::IAM::ManagedPolicy',
    Properties: {
      Description: `joinflow ${model.stage}: what a 'joinflow worker' needs (attach to the worker's role)`,
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
            Resource: queueArns,
          },
          // A malformed task goes to its queue's DLQ at once, with the reason; the worker finds
          // the DLQ from the queue's redrive policy (src/adapters/aws/dead-letter-queue.ts).
          { Effect: 'Allow', Action: ['sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: dlqArns },
          { Effect: 'Allow', Action: ['events:PutEvents'], Resource: { 'Fn::GetAtt': ['EventBus', 'Arn'] } },
          // Whether a task's run has ended (src/adapters/aws/aws-worker.ts): its META item only.
          { Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: { 'Fn::GetAtt': ['Table', 'Arn'] } },
          { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: { 'Fn::Sub': `\${Bucket.Arn}/${BLOB_PREFIX}*` } },
          // Data files of container command steps, staged by the worker (s3-data.ts).
          { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: { 'Fn::Sub': `\${Bucket.Arn}/${DATA_PREFIX}*` } },
          // So that an input no step uploaded reads as missing (404), not as denied (403).
          listUnder([BLOB_PREFIX, DATA_PREFIX]),
        ],
      },
    },
  };
  const entries = model.taskQueues.map((q, i) => [q.queue, i]);
  Outputs.TaskQueueUrls = {
    Description: 'Container queue name -> SQS queue URL (JSON)',
    Value: {
      'Fn::Sub': [
        `{${entries.map(([name, i]) => `${JSON.stringify(name)}:"\${q${i}}"`).join(',')}}`,
        Object.fromEntries(model.taskQueues.map((q, i) => [`q${i}`, { Ref: q.logicalId }])),
      ],
    },
  };
  Outputs.WorkerPolicyArn = { Description: 'Managed policy for joinflow worker roles', Value: { Ref: 'WorkerPolicy' } };
  return { Resources, Outputs };
}

module.exports = {
  queueResources,
  /** `${file(./deploy/queues.cjs):resources}` */
  resources: generator(queueResources),
};
