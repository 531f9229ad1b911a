'use strict';
/**
 * A local serverless plugin (serverless.yml `plugins: - ./deploy/guard.cjs`) that checks the
 * compiled template against the AWS limits a deployment would otherwise fail on — at `package`
 * time, offline — and refuses to `deploy` a package that could not work:
 *  - at most 500 resources; at most 300 rules on the stage's bus; event patterns <= 2048
 *    characters; each Lambda environment <= 4 KB; template <= 1 MB;
 *  - no IAM Allow statement whose Action contains `*`, nor any NotAction (least privilege); each
 *    role's inline policies <= 10,240 characters and each managed policy <= 6,144 once CloudFormation
 *    has resolved their ARNs (policy-size.cjs);
 *  - deploy: plans from ./triggers only (the functions ship ./triggers), and Batch needs subnets
 *    and security groups.
 */
const { LIMITS, context, patternLength, triggersDir, SERVICE_DIR } = require('./lib.cjs');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { policySizeProblems } = require('./policy-size.cjs');

const TEMPLATE_BYTES = 1024 * 1024;

/** Every IAM policy document in the template with where it is. */
function policyDocuments(template) {
  const docs = [];
  for (const [id, r] of Object.entries(template.Resources || {})) {
    const p = r.Properties || {};
    for (const pol of p.Policies || []) docs.push([`${id}.${pol.PolicyName}`, pol.PolicyDocument]);
    if (p.PolicyDocument) docs.push([id, p.PolicyDocument]);
    if (p.AssumeRolePolicyDocument) docs.push([`${id}.AssumeRolePolicyDocument`, p.AssumeRolePolicyDocument]);
  }
  return docs;
}

/** Problems of a compiled template (an empty list when it is deployable as far as we can tell). */
function templateProblems(template, { bus, region } = {}) {
  const problems = [];
  const resources = Object.entries(template.Resources || {});
  if (resources.length > LIMITS.stackResources) {
    problems.push(`${resources.length} resources, over CloudFormation's ${LIMITS.stackResources} per stack`);
  }
  const size = Buffer.byteLength(JSON.stringify(template));
  if (size > TEMPLATE_BYTES) problems.push(`the template is ${size} bytes, over CloudFormation's ${TEMPLATE_BYTES}`);
  let busRules = 0;
  for (const [id, r] of resources) {
    if (r.Type === 'AWS::Events::Rule') {
      const p = r.Properties || {};
      const onBus = p.EventBusName && (p.EventBusName.Ref === 'EventBus' || p.EventBusName === bus);
      if (onBus) busRules += 1;
      if (p.EventPattern && patternLength(p.EventPattern) > LIMITS.patternChars) {
        problems.push(`rule ${id}: its event pattern has ${patternLength(p.EventPattern)} characters, over ${LIMITS.patternChars}`);
      }
      if (p.Name && p.Name.length > LIMITS.ruleName) problems.push(`rule ${id}: name "${p.Name}" is over ${LIMITS.ruleName} characters`);
    }
    if (r.Type === 'AWS::Lambda::Function') {
      const vars = (r.Properties.Environment && r.Properties.Environment.Variables) || {};
      // References count as 128 characters each: a conservative guess of what they resolve to.
      const bytes = Object.entries(vars).reduce((n, [k, v]) => n + k.length + (typeof v === 'string' ? Buffer.byteLength(v) : estimate(v)), 0);
      if (bytes > LIMITS.lambdaEnvBytes) problems.push(`function ${id}: its environment is about ${bytes} bytes, over Lambda's ${LIMITS.lambdaEnvBytes}`);
      const name = r.Properties.FunctionName;
      if (typeof name === 'string' && name.length > LIMITS.lambdaName) problems.push(`function ${id}: name "${name}" is over ${LIMITS.lambdaName} characters`);
    }
  }
  if (busRules > LIMITS.rulesPerBus) problems.push(`${busRules} rules on the event bus, over EventBridge's ${LIMITS.rulesPerBus}`);
  for (const [where, doc] of policyDocuments(template)) {
    for (const st of [].concat(doc.Statement || [])) {
      // A Deny grants nothing: serverless's deployment bucket policy denies `s3:*` over plain
      // HTTP (the form AWS's "SSL requests only" check looks for), which stays.
      if (st.Effect === 'Deny') continue;
      for (const action of [].concat(st.Action || [], st.NotAction || [])) {
        if (typeof action === 'string' && action.includes('*')) problems.push(`${where}: IAM action "${action}" has a wildcard`);
      }
      if (st.NotAction) problems.push(`${where}: an Allow with NotAction grants everything else`);
    }
  }
  problems.push(...policySizeProblems(template, region));
  return problems;
}

function estimate(value) {
  if (value && value['Fn::Sub']) {
    const sub = value['Fn::Sub'];
    const [text, vars] = Array.isArray(sub) ? sub : [sub, {}];
    return Buffer.byteLength(text.replace(/\$\{[^}]+\}/g, '')) + 128 * Object.keys(vars).length + 128 * ((text.match(/\$\{AWS::[^}]+\}/g) || []).length);
  }
  return 128;
}

/**
 * Lambda runtimes newer than serverless 3.40's configuration schema knows (it stops at nodejs20.x,
 * which Lambda deprecated with Node.js 20's end of life on 2026-04-30). serverless.yml uses
 * nodejs22.x; the schema is told about it here, before serverless validates the configuration, so
 * that packaging does not warn about a runtime Lambda has.
 */
const NEWER_RUNTIMES = ['nodejs22.x', 'nodejs24.x'];

function acceptNewerRuntimes(serverless) {
  const runtime = serverless.configSchemaHandler && serverless.configSchemaHandler.schema.definitions && serverless.configSchemaHandler.schema.definitions.awsLambdaRuntime;
  if (!runtime || !Array.isArray(runtime.enum)) return;
  for (const r of NEWER_RUNTIMES) if (!runtime.enum.includes(r)) runtime.enum.push(r);
}

/**
 * serverless-esbuild (1.57) zips each function from a folder it makes in the temp dir
 * (`<function>-<pid>-<ms>-<hex>`) and then fails to remove it (a non-recursive remove of a folder
 * that is not empty, its error swallowed): every `package` or `deploy` left one copy of every bundle
 * behind. This removes the ones this process made, when it exits.
 */
function removePackTemps(serverless) {
  const names = new Set([...Object.keys(serverless.service.functions || {}), serverless.service.service]);
  const dir = os.tmpdir();
  const mine = new RegExp(`^(.+)-${process.pid}-\\d+-[0-9a-f]{8}$`);
  let entries;
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const m = mine.exec(entry);
    if (m && names.has(m[1])) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
}

class JoinflowGuard {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.options = options;
    this.log = log;
    acceptNewerRuntimes(serverless);
    process.once('exit', () => removePackTemps(serverless));
    this.hooks = {
      'before:aws:package:finalize:saveServiceState': () => this.checkTemplate(),
      'before:deploy:deploy': () => this.checkDeploy(),
    };
  }

  fail(message) {
    throw new this.serverless.classes.Error(`joinflow: ${message}`, 'JOINFLOW_GUARD');
  }

  checkTemplate() {
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    const problems = templateProblems(template, { region: this.serverless.service.provider.region });
    if (problems.length > 0) this.fail(`the template would not deploy:\n  - ${problems.join('\n  - ')}`);
    // Packaging without a network is fine for a look at the template; deploy refuses it (checkDeploy).
    const bare = Object.entries(template.Resources || {})
      .filter(([, r]) => r.Type === 'AWS::Batch::ComputeEnvironment' && ((r.Properties.ComputeResources || {}).Subnets || []).length === 0)
      .map(([id]) => id);
    if (bare.length > 0) {
      process.stderr.write(
        `joinflow: ${bare.join(' and ')} have no subnets: this package is fine to inspect, but deploy refuses it until ` +
          'JOINFLOW_SUBNETS and JOINFLOW_SECURITY_GROUPS (comma-separated ids) or custom.joinflow.subnets / securityGroups are set\n',
      );
    }
    const counts = {};
    for (const r of Object.values(template.Resources)) counts[r.Type] = (counts[r.Type] || 0) + 1;
    if (this.log && this.log.verbose) {
      this.log.verbose(`joinflow: ${Object.keys(template.Resources).length} resources: ${Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(', ')}`);
    }
  }

  async checkDeploy() {
    const dir = triggersDir();
    if (path.resolve(dir) !== path.join(SERVICE_DIR, 'triggers')) {
      this.fail(`JOINFLOW_TRIGGERS_DIR points at ${dir}, but the functions ship ./triggers: unset it to deploy`);
    }
    const service = this.serverless.service;
    const model = await context({
      resolveVariable: async (v) => ({ 'self:service': service.service, 'sls:stage': service.provider.stage, 'self:provider.region': service.provider.region })[v],
      resolveConfigurationProperty: async () => (service.custom && service.custom.joinflow) || {},
    });
    if (model.hasBatch && (model.settings.subnets.length === 0 || model.settings.securityGroups.length === 0)) {
      this.fail(
        `${model.batchSteps.length} batch step(s) need AWS Batch compute environments, which need subnets and security groups: ` +
          'set JOINFLOW_SUBNETS and JOINFLOW_SECURITY_GROUPS (comma-separated ids) or custom.joinflow.subnets / securityGroups',
      );
    }
  }
}

JoinflowGuard.templateProblems = templateProblems;
module.exports = JoinflowGuard;
