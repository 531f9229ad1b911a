'use strict';
/**
 * A local serverless plugin (serverless.yml `plugins: - ./deploy/leases.cjs`, listed before
 * guard.cjs, which then checks the environment it sets) that gives the two functions which claim
 * work in the table the lease their claims are judged by, JOINFLOW_LEASE_MS, derived from the
 * timeout the compiled template gives each of them:
 *
 *   lease = timeout + LEASE_MARGIN_SECONDS
 *
 * A claim is taken by an invocation that has started, so that invocation cannot still be running
 * once the lease has passed: a slow processor still dispatching a wide forEach keeps its claim
 * (a lease shorter than the timeout let a redelivery take it over and send the work again). The
 * margin covers the clocks of two hosts and requests already sent when the timeout struck.
 *
 * A dead claimer's work is taken over by the next delivery after the lease, so the lease must
 * also have passed by the time that delivery comes, or the delivery would find the claim still
 * held and drop its event:
 *  - processor: Lambda retries a failed asynchronous invocation one minute after it failed, and
 *    the claim was taken before the failure (AWS Lambda Developer Guide, "How Lambda handles
 *    errors and retries with asynchronous invocation");
 *  - timer: SQS hands a message back after the queue's visibility timeout.
 * A timeout whose lease would outlast that is refused at package time.
 */

/** Seconds added to a function's timeout to make its lease, and kept before the redelivery. */
const LEASE_MARGIN_SECONDS = 5;
/** Lambda's wait before it retries a failed asynchronous invocation the first time, seconds. */
const LAMBDA_FIRST_RETRY_SECONDS = 60;
/** The environment variable the handlers read (src/adapters/aws/config.ts). */
const LEASE_ENV = 'JOINFLOW_LEASE_MS';

/** The lease of a function whose timeout is `seconds`, in milliseconds. */
function leaseMs(seconds) {
  return (seconds + LEASE_MARGIN_SECONDS) * 1000;
}

/**
 * Sets JOINFLOW_LEASE_MS on the processor and timer functions of a compiled template (ids are
 * their logical ids) from their Timeout; returns what cannot work, one line each.
 */
function applyLeases(template, ids = { processor: 'ProcessorLambdaFunction', timer: 'TimerLambdaFunction', timerQueue: 'TimerQueue' }) {
  const resources = template.Resources || {};
  const problems = [];
  const redelivery = {
    processor: { seconds: LAMBDA_FIRST_RETRY_SECONDS, what: "Lambda's retry of a failed invocation, a minute after it failed" },
    timer: { seconds: visibilityTimeout(resources[ids.timerQueue]), what: `the timer queue's redelivery of a message, after its visibility timeout` },
  };
  for (const fn of ['processor', 'timer']) {
    const r = resources[ids[fn]];
    if (!r || r.Type !== 'AWS::Lambda::Function') {
      problems.push(`no ${fn} function (${ids[fn]}) in the template to give its lease`);
      continue;
    }
    const timeout = r.Properties.Timeout;
    if (typeof timeout !== 'number' || !(timeout > 0)) {
      problems.push(`the ${fn} function (${ids[fn]}) has no timeout in the template (got ${JSON.stringify(timeout)}): its lease is derived from it`);
      continue;
    }
    const { seconds, what } = redelivery[fn];
    const lease = leaseMs(timeout);
    if (seconds !== undefined && lease > (seconds - LEASE_MARGIN_SECONDS) * 1000) {
      const most = seconds - 2 * LEASE_MARGIN_SECONDS;
      problems.push(
        `the ${fn}'s timeout of ${timeout} s makes its claims' lease ${lease / 1000} s (timeout + ${LEASE_MARGIN_SECONDS} s), which ends too late for ${what} (${seconds} s) to take over ` +
          `a claim its dead invocation left: that delivery would find the claim held and drop its event. Give the ${fn} a timeout of at most ${most} s in serverless.yml`,
      );
      continue;
    }
    r.Properties.Environment = r.Properties.Environment || {};
    r.Properties.Environment.Variables = { ...(r.Properties.Environment.Variables || {}), [LEASE_ENV]: String(lease) };
  }
  return problems;
}

/** VisibilityTimeout of a queue resource, seconds (SQS's default, 30, when it sets none). */
function visibilityTimeout(queue) {
  if (!queue) return undefined;
  const v = (queue.Properties || {}).VisibilityTimeout;
  return typeof v === 'number' ? v : v === undefined ? 30 : Number(v);
}

class JoinflowLeases {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:aws:package:finalize:saveServiceState': () => this.apply() };
  }

  apply() {
    const naming = this.serverless.getProvider('aws').naming;
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    const problems = applyLeases(template, { processor: naming.getLambdaLogicalId('processor'), timer: naming.getLambdaLogicalId('timer'), timerQueue: 'TimerQueue' });
    if (problems.length > 0) throw new this.serverless.classes.Error(`joinflow: ${problems.join('\n  ')}`, 'JOINFLOW_LEASE');
  }
}

JoinflowLeases.applyLeases = applyLeases;
JoinflowLeases.leaseMs = leaseMs;
JoinflowLeases.LEASE_MARGIN_SECONDS = LEASE_MARGIN_SECONDS;
module.exports = JoinflowLeases;
