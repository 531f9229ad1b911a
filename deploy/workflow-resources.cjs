'use strict';
/**
 * Resources a workflow brings along. A workflow kept in a directory (workflows/<name>/workflow.*)
 * may have an `aws.cjs` next to its workflow file that adds CloudFormation resources (a table for
 * its results, say) and gives its function steps environment variables and IAM statements:
 *
 *   module.exports = ({ prefix, stage, workflow, logicalPrefix }) => ({
 *     resources: { [`${logicalPrefix}Results`]: { Type: 'AWS::DynamoDB::Table', ... } },
 *     outputs: { ... },                                   // optional
 *     steps: {                                            // optional, function steps only
 *       store: { environment: { RESULTS_TABLE: { Ref: ... } }, statements: [{ Effect: 'Allow', Action: [...], Resource: ... }] },
 *     },
 *   });
 *
 * Logical ids must start with `logicalPrefix` (the workflow's name in PascalCase), so that they
 * cannot collide with joinflow's own. serverless.yml includes `${file(./deploy/workflow-resources.cjs):resources}`;
 * functions.cjs and iam.cjs merge the step parts into each step's function and role. guard.cjs
 * checks the final template as for every other resource (no wildcard actions, sizes).
 */
const fs = require('node:fs');
const path = require('node:path');
const { SERVICE_DIR, generator, pascal } = require('./lib.cjs');

const FILE = 'aws.cjs';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const memo = new WeakMap();

/** The `aws.cjs` of a plan's workflow, or undefined (top-level workflow files have none). */
function extensionFile(plan, root = SERVICE_DIR) {
  const source = String(plan.source || '');
  if (!/(^|\/)workflow\.[^/]+$/.test(source)) return undefined;
  const file = path.join(root, path.dirname(source), FILE);
  return fs.existsSync(file) ? file : undefined;
}

/** Loads and checks every workflow's extension once per model (`root`: the service directory). */
function workflowExtras(model, root = SERVICE_DIR) {
  if (root === SERVICE_DIR && memo.has(model)) return memo.get(model);
  const Resources = {};
  const Outputs = {};
  const steps = new Map(); // "<workflow>/<step>" -> { environment, statements }
  for (const plan of model.plans) {
    const file = extensionFile(plan, root);
    if (!file) continue;
    const where = path.relative(root, file);
    const logicalPrefix = pascal(plan.workflow, 40);
    const make = require(file);
    if (typeof make !== 'function') throw new Error(`${where} must export a function ({ prefix, stage, workflow, logicalPrefix }) => ({ resources, outputs, steps })`);
    const ext = make({ prefix: model.names.prefix, stage: model.stage, workflow: plan.workflow, logicalPrefix }) || {};
    for (const [kind, target] of [['resources', Resources], ['outputs', Outputs]]) {
      for (const [id, value] of Object.entries(ext[kind] || {})) {
        if (!/^[A-Za-z0-9]+$/.test(id) || !id.startsWith(logicalPrefix)) {
          throw new Error(`${where}: ${kind} "${id}": logical ids are letters and digits and start with "${logicalPrefix}" (the workflow's name), so they cannot collide with joinflow's`);
        }
        if (id in target) throw new Error(`${where}: ${kind} "${id}" is defined twice`);
        target[id] = value;
      }
    }
    for (const [step, part] of Object.entries(ext.steps || {})) {
      const spec = plan.steps[step];
      if (!spec || spec.executor.type !== 'function') throw new Error(`${where}: steps.${step}: "${plan.workflow}" has no function step "${step}"`);
      const environment = part.environment || {};
      for (const name of Object.keys(environment)) {
        if (!ENV_NAME.test(name) || name.startsWith('JOINFLOW_')) throw new Error(`${where}: steps.${step}.environment.${name}: names are letters, digits and "_", and JOINFLOW_ is joinflow's`);
      }
      const statements = part.statements || [];
      for (const st of statements) {
        const actions = [].concat(st.Action || []);
        if (st.Effect !== 'Allow' || actions.length === 0 || actions.some((a) => typeof a !== 'string' || a.includes('*')) || st.NotAction || !st.Resource) {
          throw new Error(`${where}: steps.${step}.statements: each statement allows named actions (no "*", no NotAction) on a Resource`);
        }
      }
      steps.set(`${plan.workflow}/${step}`, { environment, statements });
    }
  }
  const extras = {
    resources: Object.keys(Outputs).length > 0 ? { Resources, Outputs } : { Resources },
    /** Extra environment of a function step (from model.functionSteps). */
    environment: (f) => Object.assign({}, ...(f.members || [f.id]).map((id) => (steps.get(id) || {}).environment || {})),
    /** Extra IAM statements of a function step's role (of every step a shared function runs). */
    statements: (f) => (f.members || [f.id]).flatMap((id) => (steps.get(id) || {}).statements || []),
  };
  if (root === SERVICE_DIR) memo.set(model, extras);
  return extras;
}

module.exports = {
  extensionFile,
  workflowExtras,
  /** `${file(./deploy/workflow-resources.cjs):resources}` */
  resources: generator((model) => workflowExtras(model).resources),
};
