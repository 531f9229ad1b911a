'use strict';
/**
 * Which EventBridge rules a deployment gets (lib.cjs re-exports these; triggers.cjs builds the
 * rules): one per trigger, or one per workflow for workflows grouped past the rule budget or the
 * pattern size limit.
 */
const { LIMITS } = require('./limits.cjs');

/** JSON text length of an event pattern as EventBridge counts it (no whitespace). */
function patternLength(pattern) {
  return JSON.stringify(pattern).length;
}

/**
 * Which triggers get a rule of their own and which workflows share one rule (routing by
 * `detail.workflow`; the processor then matches every trigger of the workflow itself).
 * Workflows are grouped whole: a workflow with a pattern over EventBridge's size limit, then, while
 * the deployment needs more rules than `budget`, the workflows with the most triggers first.
 */
function planRules(plans, budget, limits = { patternChars: LIMITS.patternChars }) {
  const grouped = new Map(); // workflow -> reason
  for (const plan of plans) {
    const long = plan.triggers.find((t) => patternLength(t.activation) > limits.patternChars);
    if (long) {
      grouped.set(plan.workflow, `the event pattern of trigger "${long.id}" has ${patternLength(long.activation)} characters, over EventBridge's ${limits.patternChars}`);
    }
  }
  const count = () => plans.reduce((n, p) => n + (grouped.has(p.workflow) ? 0 : p.triggers.length), 0) + grouped.size;
  const needed = count();
  if (needed > budget) {
    const candidates = plans
      .filter((p) => !grouped.has(p.workflow))
      .sort((a, b) => b.triggers.length - a.triggers.length || (a.workflow < b.workflow ? -1 : 1));
    for (const plan of candidates) {
      if (count() <= budget) break;
      if (plan.triggers.length <= 1) break; // grouping would not save a rule
      grouped.set(plan.workflow, `${needed} rules (one per trigger) would exceed the budget of ${budget} rules per bus (EventBridge allows ${LIMITS.rulesPerBus})`);
    }
  }
  if (count() > budget) {
    throw new Error(`${count()} EventBridge rules are needed even with every workflow grouped (one rule per workflow), over the budget of ${budget}: deploy the workflows as several services (stages)`);
  }
  const rules = [];
  for (const plan of plans) {
    if (grouped.has(plan.workflow)) {
      rules.push({ kind: 'workflow', workflow: plan.workflow, triggers: plan.triggers.length, reason: grouped.get(plan.workflow) });
    } else {
      for (const trigger of plan.triggers) rules.push({ kind: 'trigger', workflow: plan.workflow, trigger });
    }
  }
  return rules;
}

/** The pattern of a grouped workflow's rule. */
function workflowPattern(workflow) {
  return { source: ['joinflow'], detail: { workflow: [workflow] } };
}

module.exports = { patternLength, planRules, workflowPattern };
