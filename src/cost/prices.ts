/**
 * Published on-demand prices (USD, us-east-1) used by `joinflow run --cost` and `joinflow plan`,
 * and the few assumptions the estimates need. Keep every number in this one file.
 */
export const PRICES = {
  /** EventBridge: custom events put on a bus, per event (each 64 KB chunk counts as one). */
  eventBridgePerEvent: 1.0 / 1e6,
  /** Lambda: per request, and per GB-second of duration (x86; aws.amazon.com/lambda/pricing). */
  lambdaPerRequest: 0.2 / 1e6,
  lambdaPerGbSecond: 0.0000166667,
  /** DynamoDB on-demand (since the November 2024 reduction): per write / read request unit. */
  dynamoDbPerWru: 0.625 / 1e6,
  dynamoDbPerRru: 0.125 / 1e6,
  /** SQS standard queue, per request. */
  sqsPerRequest: 0.4 / 1e6,
  /**
   * Step Functions Standard workflows, per state transition; each retry is one more
   * (aws.amazon.com/step-functions/pricing).
   */
  stepFunctionsPerTransition: 0.025 / 1000,
  /**
   * AWS Fargate, Linux/x86, per vCPU-hour and per GB-hour of memory (aws.amazon.com/fargate/pricing).
   * AWS Batch adds no charge of its own: CPU batch jobs pay for their Fargate task.
   */
  fargatePerVcpuHour: 0.04048,
  fargatePerGbHour: 0.004445,
} as const;

/**
 * EC2 On-Demand GPU instances (Linux, us-east-1, per instance-hour; aws.amazon.com/ec2/pricing/on-demand)
 * a GPU batch job may land on. g4dn.xlarge and g5.xlarge are the compute environment's defaults
 * (serverless.yml custom.joinflow.gpuInstanceTypes); the estimate takes the cheapest allowed type that fits.
 */
/** The GPU compute environment's instance types when serverless.yml allows none (deploy/lib.cjs). */
export const DEFAULT_GPU_INSTANCE_TYPES: readonly string[] = ['g4dn.xlarge', 'g5.xlarge'];

export const GPU_INSTANCES: ReadonlyArray<{ type: string; vcpus: number; memoryMb: number; gpus: number; usdPerHour: number }> = [
  { type: 'g4dn.xlarge', vcpus: 4, memoryMb: 16_384, gpus: 1, usdPerHour: 0.526 },
  { type: 'g4dn.2xlarge', vcpus: 8, memoryMb: 32_768, gpus: 1, usdPerHour: 0.752 },
  { type: 'g4dn.4xlarge', vcpus: 16, memoryMb: 65_536, gpus: 1, usdPerHour: 1.204 },
  { type: 'g5.xlarge', vcpus: 4, memoryMb: 16_384, gpus: 1, usdPerHour: 1.006 },
  { type: 'g4dn.12xlarge', vcpus: 48, memoryMb: 196_608, gpus: 4, usdPerHour: 3.912 },
];

/** Assumptions where the price depends on how long or how big something is. */
export const ASSUMPTIONS = {
  /**
   * Memory and typical duration of a trigger-processor invocation. The memory is what the stack
   * gives it: serverless.yml's provider.memorySize (test/unit/cost.test.ts checks they agree).
   */
  processorMemoryMb: 512,
  processorDurationMs: 40,
  /** Memory (the same provider.memorySize) and typical duration of a bridge invocation (Lambda result, Batch state, timer). */
  bridgeMemoryMb: 512,
  bridgeDurationMs: 20,
  /** Memory of a function step's Lambda when the stage does not say (custom.joinflow.stepMemoryMb; deploy's default). */
  functionMemoryMb: 1024,
  /** SQS requests per container task: send, receive, visibility extension, delete. */
  sqsRequestsPerContainerTask: 4,
  /** SQS requests per retry through the timer queue: send, receive, delete. */
  sqsRequestsPerRetry: 3,
  /**
   * Share of a GPU instance's installed memory a job can count on: the ECS agent registers less,
   * and AWS Batch advises leaving 5 % (deploy/capacity.cjs USABLE_MEMORY, which warns past it).
   */
  gpuUsableMemoryShare: 0.95,
  /** Fargate tasks and EC2 instances bill per second with a one-minute minimum. */
  batchMinimumSeconds: 60,
} as const;
