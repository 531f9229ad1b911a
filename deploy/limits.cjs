'use strict';
/**
 * AWS limits the deploy/*.cjs generators respect (and guard.cjs re-checks on the final template).
 * lib.cjs re-exports them as `LIMITS`.
 */
const LIMITS = {
  /** Rules per event bus (EventBridge quota). */
  rulesPerBus: 300,
  /** Default share of that quota for trigger rules (custom.joinflow.ruleBudget). */
  ruleBudget: 250,
  /** Characters of one event pattern. */
  patternChars: 2048,
  /** Resources in one CloudFormation stack. */
  stackResources: 500,
  /** Bytes of one Lambda function's environment (keys + values). */
  lambdaEnvBytes: 4096,
  /** Characters of a Lambda function name, an EventBridge rule name, an IAM role name. */
  lambdaName: 64,
  ruleName: 64,
  /** Characters of a Batch job definition / job queue name. */
  batchName: 128,
  /** Characters of an SQS queue name. */
  queueName: 80,
  /** Lambda memory, MB: a whole number in this range. */
  lambdaMinMemoryMb: 128,
  lambdaMaxMemoryMb: 10240,
  /** Lambda timeout, seconds. */
  lambdaTimeout: 900,
  /** The longest an SQS message is kept invisible after it is received, seconds (12 h; ChangeMessageVisibility past it is rejected). */
  sqsVisibilitySeconds: 43200,
  /** Characters (whitespace not counted) of all inline policies of one IAM role together. */
  roleInlinePolicyChars: 10240,
  /** Characters (whitespace not counted) of one customer managed IAM policy. */
  managedPolicyChars: 6144,
};

module.exports = { LIMITS };
