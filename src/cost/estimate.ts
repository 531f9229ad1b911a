/**
 * Turns the requests a run made (counted on the embedded engine, invocation by invocation as on
 * AWS) into dollars, next to what Step Functions Standard would charge for the same steps.
 */
import { ASSUMPTIONS, PRICES } from './prices.ts';

/** What a run did, counted the way AWS bills it. */
export type UsageCounts = {
  /** Events put on the bus (Step Started is local-only and not counted). */
  events: number;
  /** Rule matches: one trigger-processor Lambda invocation each. */
  ruleInvocations: number;
  dynamoDb: { writeUnits: number; readUnits: number; requests: number };
  /** Step executions per executor kind (retries included). */
  executions: Record<string, number>;
  /** Function steps' duration in GB-seconds, each at its Lambda's memory (a placed step's own). */
  functionGbSeconds: number;
  retries: number;
  /** Map states entered (forEach steps the run reached), for the Step Functions comparison. */
  mapSteps: number;
};

/** One line of the report. */
export type CostLine = { item: string; quantity: number; unit: string; usd: number };

/** The cost report of one run. */
export type CostReport = { lines: CostLine[]; totalUsd: number; stepFunctions: { transitions: number; usd: number } };

/** Prices a run's usage. */
export function estimateCost(u: UsageCounts): CostReport {
  const fn = u.executions['function'] ?? 0;
  const batch = u.executions['batch'] ?? 0;
  const container = u.executions['container'] ?? 0;
  const gbSeconds = (mb: number, ms: number) => (mb / 1024) * (ms / 1000);
  const bridgeInvocations = fn + batch + u.retries;
  const lambdaRequests = u.ruleInvocations + fn + bridgeInvocations;
  const lambdaGbs =
    u.ruleInvocations * gbSeconds(ASSUMPTIONS.processorMemoryMb, ASSUMPTIONS.processorDurationMs) +
    bridgeInvocations * gbSeconds(ASSUMPTIONS.bridgeMemoryMb, ASSUMPTIONS.bridgeDurationMs) +
    u.functionGbSeconds;
  const sqs = container * ASSUMPTIONS.sqsRequestsPerContainerTask + u.retries * ASSUMPTIONS.sqsRequestsPerRetry;
  const lines: CostLine[] = [
    { item: 'EventBridge events', quantity: u.events, unit: 'events', usd: u.events * PRICES.eventBridgePerEvent },
    { item: 'Lambda requests (processor, steps, bridges)', quantity: lambdaRequests, unit: 'requests', usd: lambdaRequests * PRICES.lambdaPerRequest },
    { item: 'Lambda duration', quantity: round(lambdaGbs, 3), unit: 'GB-s', usd: lambdaGbs * PRICES.lambdaPerGbSecond },
    { item: 'DynamoDB writes', quantity: u.dynamoDb.writeUnits, unit: 'WRU', usd: u.dynamoDb.writeUnits * PRICES.dynamoDbPerWru },
    { item: 'DynamoDB reads', quantity: u.dynamoDb.readUnits, unit: 'RRU', usd: u.dynamoDb.readUnits * PRICES.dynamoDbPerRru },
    { item: 'SQS requests (containers, retry timers)', quantity: sqs, unit: 'requests', usd: sqs * PRICES.sqsPerRequest },
    { item: 'Batch jobs (compute billed as EC2/Fargate time, not estimated)', quantity: batch, unit: 'jobs', usd: 0 },
  ];
  // Step Functions Standard: one transition per state entered — every step execution (retries
  // enter the state again), one per Map state entered, plus the start and the end of the execution.
  const executions = Object.values(u.executions).reduce((a, b) => a + b, 0);
  const transitions = executions + u.mapSteps + 2;
  return {
    lines,
    totalUsd: lines.reduce((a, l) => a + l.usd, 0),
    stepFunctions: { transitions, usd: transitions * PRICES.stepFunctionsPerTransition },
  };
}

/** A fixed-width text table of the report. */
export function formatCostReport(r: CostReport): string {
  const usd = (x: number) => `$${x < 0.01 ? x.toFixed(6) : x.toFixed(4)}`;
  const rows = r.lines.map((l) => `  ${l.item.padEnd(62)} ${String(l.quantity).padStart(10)} ${l.unit.padEnd(8)} ${usd(l.usd).padStart(11)}`);
  return [
    'AWS cost of this run (on-demand, us-east-1; see src/cost/prices.ts for prices and assumptions):',
    ...rows,
    `  ${'total (joinflow on AWS)'.padEnd(82)}${usd(r.totalUsd).padStart(11)}`,
    `  ${`Step Functions Standard, same steps (${r.stepFunctions.transitions} state transitions)`.padEnd(82)}${usd(r.stepFunctions.usd).padStart(11)}`,
    '',
  ].join('\n');
}

function round(x: number, d: number): number {
  return Math.round(x * 10 ** d) / 10 ** d;
}
