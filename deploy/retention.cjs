'use strict';
/**
 * How long the stage's bucket keeps claim checks (large events, results and retries kept in S3
 * under `joinflow/`): `custom.joinflow.claimCheckDays` plus the longest a run of the stage's plans
 * can wait by their definition, as the table's working items (src/adapters/aws/retention.ts). A
 * run that waits months on a `delayMs` then still finds the results it left in the bucket.
 *
 * runWaitMs is src/runtime/waits.ts in CommonJS (the deploy plugin runs inside serverless, without
 * the TypeScript sources); test/aws/retention-deploy.test.ts holds the two to the same answers.
 */
const { generator } = require('./lib.cjs');

const DAY_MS = 86_400_000;

/** The longest a step can take by its definition (see waits.ts, stepWaitMs). */
function stepWaitMs(step) {
  const retry = step.retry || { maxAttempts: 1, backoffMs: 0, factor: 1, maxDelayMs: 0 };
  const attempts = retry.maxAttempts + (step.fallback !== undefined ? 1 : 0);
  let total = step.delayMs || 0;
  for (let attempt = 1; attempt < attempts; attempt++) total += Math.min(retry.backoffMs * retry.factor ** (attempt - 1), retry.maxDelayMs);
  return total + (step.timeoutMs || 0) * retry.maxAttempts;
}

/** The longest chain of needs, each step counted with stepWaitMs (see waits.ts, runWaitMs). */
function runWaitMs(plan) {
  const until = new Map();
  const visiting = new Set();
  const wait = (id) => {
    if (until.has(id)) return until.get(id);
    // A plan is acyclic (the compiler checks it); a cycle here counts its steps once.
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const step = plan.steps[id];
    let before = 0;
    for (const need of step.needs || []) if (plan.steps[need]) before = Math.max(before, wait(need));
    const total = before + stepWaitMs(step);
    until.set(id, total);
    return total;
  };
  let longest = 0;
  for (const id of Object.keys(plan.steps)) longest = Math.max(longest, wait(id));
  return longest;
}

/** Days the bucket keeps a claim check: claimCheckDays plus the plans' longest wait, in whole days. */
function claimCheckExpiryDays(model) {
  const longest = Math.max(0, ...model.plans.map(runWaitMs));
  return model.settings.claimCheckDays + Math.ceil(longest / DAY_MS);
}

module.exports = {
  runWaitMs,
  claimCheckExpiryDays,
  /** `${file(./deploy/retention.cjs):claimCheckDays}` in serverless.yml. */
  claimCheckDays: generator(claimCheckExpiryDays),
};
