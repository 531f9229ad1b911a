'use strict';
/**
 * The size of an IAM policy once CloudFormation has resolved its references, as IAM counts it
 * (characters, whitespace not counted): at most 10,240 for all inline policies of a role together,
 * 6,144 for a managed policy. The estimate is an upper bound: the longest partition name, a
 * 12-digit account, a 63-character bucket name, and the longest a name can be where the template
 * does not fix it.
 */
const { LIMITS } = require('./limits.cjs');

const PARTITION = 'aws-us-gov';
const ACCOUNT = '123456789012';
const UUID = 'x'.repeat(36);
/** What an unknown reference is counted as. */
const UNKNOWN = 'x'.repeat(256);

const nameOf = (props, key, max) => (typeof props[key] === 'string' ? props[key] : 'x'.repeat(max));

/**
 * `(value) => string`: what a CloudFormation value (a string or an intrinsic function) resolves
 * to, for the resources of `resources` (logical id -> {Type, Properties}) in `region`.
 */
function resolver(resources, region) {
  const arnIn = (service, rest) => `arn:${PARTITION}:${service}:${region}:${ACCOUNT}:${rest}`;
  /** [Ref, Arn] of a resource. */
  function forms(id) {
    const r = resources[id];
    if (!r) return [UNKNOWN, UNKNOWN];
    const p = r.Properties || {};
    switch (r.Type) {
      case 'AWS::SQS::Queue': {
        const name = nameOf(p, 'QueueName', LIMITS.queueName);
        return [`https://sqs.${region}.amazonaws.com/${ACCOUNT}/${name}`, arnIn('sqs', name)];
      }
      case 'AWS::DynamoDB::Table': {
        const name = nameOf(p, 'TableName', 255);
        return [name, arnIn('dynamodb', `table/${name}`)];
      }
      case 'AWS::Events::EventBus': {
        const name = nameOf(p, 'Name', 256);
        return [name, arnIn('events', `event-bus/${name}`)];
      }
      case 'AWS::S3::Bucket': {
        const name = nameOf(p, 'BucketName', 63);
        return [name, `arn:${PARTITION}:s3:::${name}`];
      }
      case 'AWS::Lambda::Function': {
        const name = nameOf(p, 'FunctionName', LIMITS.lambdaName);
        return [name, arnIn('lambda', `function:${name}`)];
      }
      case 'AWS::Batch::JobQueue':
        return [arnIn('batch', `job-queue/${nameOf(p, 'JobQueueName', LIMITS.batchName)}`), UNKNOWN];
      case 'AWS::Batch::JobDefinition':
        return [arnIn('batch', `job-definition/${nameOf(p, 'JobDefinitionName', LIMITS.batchName)}:${'9'.repeat(10)}`), UNKNOWN];
      case 'AWS::Events::ApiDestination':
        return [nameOf(p, 'Name', 64), arnIn('events', `api-destination/${nameOf(p, 'Name', 64)}/${UUID}`)];
      case 'AWS::Events::Connection':
        return [nameOf(p, 'Name', 64), arnIn('events', `connection/${nameOf(p, 'Name', 64)}/${UUID}`)];
      case 'AWS::IAM::Role':
        return ['x'.repeat(64), `arn:${PARTITION}:iam::${ACCOUNT}:role/${'x'.repeat(64)}`];
      default:
        return [UNKNOWN, UNKNOWN];
    }
  }
  const pseudo = { 'AWS::Partition': PARTITION, 'AWS::Region': region, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com.cn' };
  const ref = (name) => pseudo[name] ?? (name.startsWith('AWS::') ? UNKNOWN : forms(name)[0]);
  const getAtt = (id, attr) => (attr === 'Arn' ? forms(id)[1] : UNKNOWN);

  function text(value) {
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (!value || typeof value !== 'object') return UNKNOWN;
    if (typeof value.Ref === 'string') return ref(value.Ref);
    if (value['Fn::GetAtt']) {
      const att = value['Fn::GetAtt'];
      const [id, attr] = Array.isArray(att) ? att : String(att).split('.');
      return getAtt(id, attr);
    }
    if (value['Fn::Sub'] !== undefined) {
      const sub = value['Fn::Sub'];
      const [template, vars] = Array.isArray(sub) ? sub : [sub, {}];
      return String(template).replace(/\$\{(!?)([^}]*)\}/g, (_, bang, name) => {
        if (bang) return `\${${name}}`;
        if (vars && name in vars) return text(vars[name]);
        if (pseudo[name] !== undefined) return pseudo[name];
        const dot = name.indexOf('.');
        return dot > 0 ? getAtt(name.slice(0, dot), name.slice(dot + 1)) : ref(name);
      });
    }
    if (Array.isArray(value['Fn::Join'])) {
      const [sep, items] = value['Fn::Join'];
      return Array.isArray(items) ? items.map(text).join(sep) : UNKNOWN;
    }
    return UNKNOWN;
  }
  return text;
}

/** A policy document with every intrinsic function replaced by what it resolves to. */
function resolveDocument(value, text) {
  if (Array.isArray(value)) return value.map((v) => resolveDocument(v, text));
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) return text(value);
    return Object.fromEntries(keys.map((k) => [k, resolveDocument(value[k], text)]));
  }
  return value;
}

/** Characters of a policy document once deployed (an upper bound). */
function policyChars(document, text) {
  return JSON.stringify(resolveDocument(document, text)).length;
}

/** Characters of all inline policies of an AWS::IAM::Role resource together. */
function roleInlineChars(role, text) {
  return ((role.Properties || {}).Policies || []).reduce((n, p) => n + policyChars(p.PolicyDocument, text), 0);
}

/** IAM policy size problems of a compiled template (roles' inline policies, managed policies). */
function policySizeProblems(template, region = 'xx-xxxxxxxxx-9') {
  const resources = template.Resources || {};
  const text = resolver(resources, region);
  const problems = [];
  const inline = new Map(); // role logical id -> characters
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::IAM::Role') inline.set(id, (inline.get(id) || 0) + roleInlineChars(r, text));
    // An AWS::IAM::Policy is an inline policy of each role it names.
    if (r.Type === 'AWS::IAM::Policy') {
      const chars = policyChars((r.Properties || {}).PolicyDocument, text);
      for (const role of [].concat((r.Properties || {}).Roles || [])) {
        if (role && typeof role.Ref === 'string') inline.set(role.Ref, (inline.get(role.Ref) || 0) + chars);
      }
    }
    if (r.Type === 'AWS::IAM::ManagedPolicy') {
      const chars = policyChars((r.Properties || {}).PolicyDocument, text);
      if (chars > LIMITS.managedPolicyChars) {
        problems.push(`managed policy ${id} would have about ${chars} characters once deployed, over IAM's ${LIMITS.managedPolicyChars} per managed policy`);
      }
    }
  }
  for (const [id, chars] of inline) {
    if (chars > LIMITS.roleInlinePolicyChars) {
      problems.push(
        `role ${id}: its inline policies would have about ${chars} characters once deployed, over IAM's ${LIMITS.roleInlinePolicyChars} per role ` +
          "(statements a workflow's aws.cjs gives a step go into that step's role: shorten them, or deploy the workflows as several services (stages))",
      );
    }
  }
  return problems;
}

module.exports = { policyChars, policySizeProblems, resolveDocument, resolver, roleInlineChars };
