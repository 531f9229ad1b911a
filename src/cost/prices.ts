/**
 * Published on-demand prices (USD, us-east-1) used by `joinflow run --cost`, and the few
 * assumptions the estimate needs. Keep every number in this one file.
 */
export const PRICES = {
  /** EventBridge: custom events put on a bus, per event (each 64 KB chunk counts as one). */
  eventBridgePerEvent: 1.0 / 1e6,
  /** Lambda: per request, and per GB-second of duration (x86). */
  lambdaPerRequest: 0.2 / 1e6,
  lambdaPerGbSecond: 0.0000166667,
  /** DynamoDB on-demand (since the November 2024 reduction): per write / read request unit. */
  dynamoDbPerWru: 0.625 / 1e6,
  dynamoDbPerRru: 0.125 / 1e6,
  /** SQS standard queue, per request. */
  sqsPerRequest: 0.4 / 1e6,
  /** Step Functions Standard workflows, per state transition. */
  stepFunctionsPerTransition: 0.025 / 1000,
} as const;

/** Assumptions where the price depends on how long or how big something is. */
export const ASSUMPTIONS = {
  /** Memory and typical duration of a trigger-processor invocation. */
  processorMemoryMb: 256,
  processorDurationMs: 40,
  /** Memory and typical duration of a bridge invocation (Lambda result, Batch state, timer). */
  bridgeMemoryMb: 128,
  bridgeDurationMs: 20,
  /** Memory of a function step's Lambda when the workflow does not say. */
  functionMemoryMb: 1024,
  /** SQS requests per container task: send, receive, visibility extension, delete. */
  sqsRequestsPerContainerTask: 4,
  /** SQS requests per retry through the timer queue: send, receive, delete. */
  sqsRequestsPerRetry: 3,
} as const;
