'use strict';
/**
 * AWS Batch, generated only when some plan has a `batch` step: a GPU compute environment (managed,
 * EC2 GPU instances, scales to zero), a CPU one (Fargate), a job queue for each, their roles, and
 * one job definition per workflow, image and platform, shared by its batch steps (each job gets
 * its step's command, environment, vCPU / memory / GPU requirements and time-out at submission).
 *
 * Compute environments need subnets (and Fargate security groups): custom.joinflow.subnets /
 * securityGroups, by default from $JOINFLOW_SUBNETS / $JOINFLOW_SECURITY_GROUPS (comma-separated).
 * `serverless package` works without them (offline); `serverless deploy` refuses (guard.cjs).
 *
 * serverless.yml: `resources: - ${file(./deploy/batch.cjs):resources}`
 */
const { BLOB_PREFIX, DATA_PREFIX, OUTPUT_PREFIX, arn, generator } = require('./lib.cjs');
const { listUnder } = require('./iam.cjs');

const ECS_TASKS = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
const assume = (service) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }] });
const managed = (name) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:iam::aws:policy/service-role/${name}` });

/** Where Batch jobs log by default (awslogs driver). */
const JOB_LOG_GROUP = '/aws/batch/job';

/**
 * The job definition of a workflow's batch steps of one image and platform (`steps`, sorted by id).
 * What differs between the steps goes with each job (dispatch.ts: containerOverrides command,
 * environment, resource requirements; the submission's time-out and tags), so the definition
 * holds the image, the platform and roles, and the resources of the first step (Batch requires
 * some; every job overrides them).
 */
function jobDefinition(model, steps) {
  const b = steps[0];
  const e = b.executor;
  const requirements = [
    { Type: 'VCPU', Value: String(e.vcpus) },
    { Type: 'MEMORY', Value: String(e.memoryMb) },
    ...(e.gpus > 0 ? [{ Type: 'GPU', Value: String(e.gpus) }] : []),
  ];
  const container = {
    Image: e.image,
    ResourceRequirements: requirements,
    Environment: [{ Name: 'JOINFLOW_WORKFLOW', Value: b.workflow }],
    JobRoleArn: { 'Fn::GetAtt': ['BatchJobRole', 'Arn'] },
  };
  if (!b.gpu) {
    container.ExecutionRoleArn = { 'Fn::GetAtt': ['BatchExecutionRole', 'Arn'] };
    container.NetworkConfiguration = { AssignPublicIp: model.settings.assignPublicIp };
    container.FargatePlatformConfiguration = { PlatformVersion: 'LATEST' };
  }
  return {
    Type: 'AWS::Batch::JobDefinition',
    Properties: {
      JobDefinitionName: b.name,
      Type: 'container',
      PlatformCapabilities: [b.gpu ? 'EC2' : 'FARGATE'],
      ContainerProperties: container,
      // joinflow retries (per the step's retry policy), not Batch.
      RetryStrategy: { Attempts: 1 },
      Tags: { 'joinflow:workflow': b.workflow, 'joinflow:image': e.image },
    },
  };
}

function batchResources(model) {
  if (!model.hasBatch) return { Resources: {} };
  const { settings, names } = model;
  const network = {
    Subnets: settings.subnets,
    ...(settings.securityGroups.length > 0 ? { SecurityGroupIds: settings.securityGroups } : {}),
  };
  const Resources = {
    BatchServiceRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description: 'joinflow: AWS Batch manages the compute environments',
        AssumeRolePolicyDocument: assume('batch.amazonaws.com'),
        ManagedPolicyArns: [managed('AWSBatchServiceRole')],
      },
    },
    BatchInstanceRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description: 'joinflow: ECS container instances of the GPU compute environment',
        AssumeRolePolicyDocument: assume('ec2.amazonaws.com'),
        ManagedPolicyArns: [managed('AmazonEC2ContainerServiceforEC2Role')],
      },
    },
    BatchInstanceProfile: {
      Type: 'AWS::IAM::InstanceProfile',
      Properties: { Roles: [{ Ref: 'BatchInstanceRole' }] },
    },
    BatchExecutionRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description: 'joinflow: pulls images and writes logs for Fargate jobs',
        AssumeRolePolicyDocument: ECS_TASKS,
        Policies: [
          {
            PolicyName: 'joinflow',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                // GetAuthorizationToken has no resource-level permissions.
                { Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
                {
                  Effect: 'Allow',
                  Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
                  Resource: arn('ecr', 'repository/*'),
                },
                { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: arn('logs', `log-group:${JOB_LOG_GROUP}:*`) },
              ],
            },
          },
        ],
      },
    },
    BatchJobRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description: 'joinflow: what a batch job may do: read its event, inputs and outputs, write outputs, stage its data files',
        AssumeRolePolicyDocument: ECS_TASKS,
        Policies: [
          {
            PolicyName: 'joinflow',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                // Its event (claim check), the run's uploaded input, and what earlier jobs of the
                // run wrote (e.g. the chunks a split job left for the detect jobs).
                {
                  Effect: 'Allow',
                  Action: ['s3:GetObject'],
                  Resource: [BLOB_PREFIX, OUTPUT_PREFIX, model.settings.startPrefix].map((p) => ({ 'Fn::Sub': `\${Bucket.Arn}/${p}*` })),
                },
                { Effect: 'Allow', Action: ['s3:PutObject'], Resource: { 'Fn::Sub': `\${Bucket.Arn}/${OUTPUT_PREFIX}*` } },
                // The run's data files (step "files"): inputs downloaded, outputs uploaded.
                { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: { 'Fn::Sub': `\${Bucket.Arn}/${DATA_PREFIX}*` } },
                // What it may read it may list: a missing key then reads as 404 NoSuchKey, not 403.
                listUnder([BLOB_PREFIX, OUTPUT_PREFIX, model.settings.startPrefix, DATA_PREFIX]),
              ],
            },
          },
        ],
      },
    },
    GpuComputeEnvironment: {
      Type: 'AWS::Batch::ComputeEnvironment',
      Properties: {
        Type: 'MANAGED',
        State: 'ENABLED',
        ServiceRole: { 'Fn::GetAtt': ['BatchServiceRole', 'Arn'] },
        ComputeResources: {
          Type: 'EC2',
          AllocationStrategy: 'BEST_FIT_PROGRESSIVE',
          MinvCpus: 0,
          MaxvCpus: settings.gpuMaxvCpus,
          InstanceTypes: settings.gpuInstanceTypes,
          InstanceRole: { 'Fn::GetAtt': ['BatchInstanceProfile', 'Arn'] },
          Ec2Configuration: [{ ImageType: settings.gpuImageType }],
          ...network,
          Tags: { 'joinflow:stage': model.stage },
        },
      },
    },
    CpuComputeEnvironment: {
      Type: 'AWS::Batch::ComputeEnvironment',
      Properties: {
        Type: 'MANAGED',
        State: 'ENABLED',
        ServiceRole: { 'Fn::GetAtt': ['BatchServiceRole', 'Arn'] },
        ComputeResources: { Type: 'FARGATE', MaxvCpus: settings.cpuMaxvCpus, ...network },
      },
    },
    CpuJobQueue: {
      Type: 'AWS::Batch::JobQueue',
      Properties: {
        JobQueueName: names.cpuJobQueue,
        Priority: 1,
        State: 'ENABLED',
        ComputeEnvironmentOrder: [{ Order: 1, ComputeEnvironment: { Ref: 'CpuComputeEnvironment' } }],
      },
    },
    GpuJobQueue: {
      Type: 'AWS::Batch::JobQueue',
      Properties: {
        JobQueueName: names.gpuJobQueue,
        Priority: 1,
        State: 'ENABLED',
        ComputeEnvironmentOrder: [{ Order: 1, ComputeEnvironment: { Ref: 'GpuComputeEnvironment' } }],
      },
    },
  };
  const shared = new Map();
  for (const b of [...model.batchSteps].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))) shared.set(b.logicalId, [...(shared.get(b.logicalId) || []), b]);
  for (const [logicalId, steps] of shared) Resources[logicalId] = jobDefinition(model, steps);
  return {
    Resources,
    Outputs: {
      CpuJobQueueArn: { Description: 'Batch job queue of CPU (Fargate) batch steps', Value: { Ref: 'CpuJobQueue' } },
      GpuJobQueueArn: { Description: 'Batch job queue of GPU batch steps', Value: { Ref: 'GpuJobQueue' } },
    },
  };
}

module.exports = {
  batchResources,
  jobDefinition,
  /** `${file(./deploy/batch.cjs):resources}` */
  resources: generator(batchResources),
};
