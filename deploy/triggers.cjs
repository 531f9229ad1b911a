'use strict';
/**
 * EventBridge rules: one per trigger of every plan in triggers/ (the rule *is* the trigger: its
 * pattern is the trigger's activation, its target hands `{trigger, event}` to the processor), or
 * one per workflow for workflows grouped past the rule budget / pattern size limit (see
 * lib.planRules). Plus the bridge rules, the processor's invoke permission, and the policy that
 * lets every rule target dead-letter into the events DLQ.
 *
 * serverless.yml: `resources: - ${file(./deploy/triggers.cjs):resources}`
 */
const { LIMITS, arn, generator, patternLength, workflowPattern } = require('./lib.cjs');

/** EventBridge's ceilings: keep retrying a failed delivery for as long as it allows. */
const RETRY_POLICY = { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 };

/**
 * The InputTransformer of a trigger rule. `<aws.events.event.json>` is the whole event including
 * `detail` (`<aws.events.event>` is the event *without* its detail field, per the EventBridge
 * input transformation docs); predefined variables need no InputPathsMap entry.
 */
function inputTemplate(key, value) {
  return { InputTemplate: `{${JSON.stringify(key)}: ${JSON.stringify(value)}, "event": <aws.events.event.json>}` };
}

/** Run Requested whose workflow is none of `workflows`, or that names none. */
function unroutedPattern(workflows) {
  return {
    source: ['joinflow'],
    'detail-type': ['Run Requested'],
    $or: [{ detail: { workflow: [{ 'anything-but': [...workflows].sort() }] } }, { detail: { workflow: [{ exists: false }] } }],
  };
}

function target(id, functionLogicalId, extra = {}) {
  return {
    Id: id,
    Arn: { 'Fn::GetAtt': [functionLogicalId, 'Arn'] },
    ...extra,
    RetryPolicy: RETRY_POLICY,
    DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] } },
  };
}

function permission(functionLogicalId, sourceArn) {
  return {
    Type: 'AWS::Lambda::Permission',
    Properties: {
      FunctionName: { 'Fn::GetAtt': [functionLogicalId, 'Arn'] },
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      SourceAccount: { Ref: 'AWS::AccountId' },
      SourceArn: sourceArn,
    },
  };
}

/** The CloudFormation resources of every rule, from the model built by lib.context. */
function ruleResources(model) {
  const { names, rules, settings, hasBatch } = model;
  const Resources = {};
  for (const r of rules) {
    const trigger = r.kind === 'trigger';
    Resources[r.logicalId] = {
      Type: 'AWS::Events::Rule',
      Properties: {
        Name: r.name,
        Description: trigger
          ? `joinflow trigger ${r.workflow}/${r.trigger.id}`.slice(0, 512)
          : `joinflow workflow ${r.workflow}: all ${r.triggers} triggers (grouped: ${r.reason})`.slice(0, 512),
        EventBusName: { Ref: 'EventBus' },
        EventPattern: trigger ? r.trigger.activation : workflowPattern(r.workflow),
        State: 'ENABLED',
        Targets: [
          target('processor', 'ProcessorLambdaFunction', {
            InputTransformer: trigger ? inputTemplate('trigger', `${r.workflow}/${r.trigger.id}`) : inputTemplate('workflow', r.workflow),
          }),
        ],
      },
    };
  }
  // EventBridge drops an event that no rule matches: a Run Requested for a workflow this stage
  // does not have (or with no workflow) goes to the processor, which dead-letters it with the
  // reason, as the embedded engine does. Left out (with a warning) when the list of names is too
  // long for one pattern.
  const unrouted = unroutedPattern(model.plans.map((p) => p.workflow));
  if (patternLength(unrouted) <= LIMITS.patternChars) {
    Resources.UnroutedRunRequestRule = {
      Type: 'AWS::Events::Rule',
      Properties: {
        Name: `${names.prefix}-unrouted`,
        Description: 'joinflow: Run Requested for a workflow this stage does not have -> the processor, which dead-letters it',
        EventBusName: { Ref: 'EventBus' },
        EventPattern: unrouted,
        State: 'ENABLED',
        Targets: [target('processor', 'ProcessorLambdaFunction', { InputTransformer: inputTemplate('unrouted', true) })],
      },
    };
  } else {
    process.stderr.write(`joinflow: the names of the ${model.plans.length} workflows make a pattern over ${LIMITS.patternChars} characters: a Run Requested for a workflow the stage does not have matches no rule, and EventBridge drops it\n`);
  }
  // One permission for every rule of the stage's bus: a statement per rule would pass the 20 KB
  // limit of the function's resource policy long before the rule quota.
  Resources.ProcessorEventsPermission = permission('ProcessorLambdaFunction', arn('events', `rule/${names.bus}/*`));

  Resources.LambdaResultRule = {
    Type: 'AWS::Events::Rule',
    Properties: {
      Name: `${names.prefix}-lambda-results`,
      Description: 'joinflow: Lambda destination records of function steps -> Step Completed / Step Failed',
      EventBusName: { Ref: 'EventBus' },
      EventPattern: {
        source: ['lambda'],
        'detail-type': ['Lambda Function Invocation Result - Success', 'Lambda Function Invocation Result - Failure'],
      },
      State: 'ENABLED',
      Targets: [target('lambda-result-bridge', 'LambdaResultBridgeLambdaFunction')],
    },
  };
  Resources.LambdaResultBridgeEventsPermission = permission('LambdaResultBridgeLambdaFunction', { 'Fn::GetAtt': ['LambdaResultRule', 'Arn'] });

  Resources.S3StartRule = {
    Type: 'AWS::Events::Rule',
    Properties: {
      Name: `${names.prefix}-s3-start`,
      Description: `joinflow: uploads under ${settings.startPrefix} start runs`,
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: {
          bucket: { name: [{ Ref: 'Bucket' }] },
          ...(settings.startPrefix ? { object: { key: [{ prefix: settings.startPrefix }] } } : {}),
        },
      },
      State: 'ENABLED',
      Targets: [target('s3-start-bridge', 'S3StartBridgeLambdaFunction')],
    },
  };
  Resources.S3StartBridgeEventsPermission = permission('S3StartBridgeLambdaFunction', { 'Fn::GetAtt': ['S3StartRule', 'Arn'] });

  const dlqSources = [arn('events', `rule/${names.bus}/*`), { 'Fn::GetAtt': ['S3StartRule', 'Arn'] }];
  if (hasBatch) {
    Resources.BatchStateRule = {
      Type: 'AWS::Events::Rule',
      Properties: {
        Name: `${names.prefix}-batch-state`,
        Description: 'joinflow: Batch jobs of this stage that succeeded or failed -> Step Completed / Step Failed',
        EventPattern: {
          source: ['aws.batch'],
          'detail-type': ['Batch Job State Change'],
          detail: { status: ['SUCCEEDED', 'FAILED'], jobQueue: [{ Ref: 'CpuJobQueue' }, { Ref: 'GpuJobQueue' }] },
        },
        State: 'ENABLED',
        Targets: [target('batch-state-bridge', 'BatchStateBridgeLambdaFunction')],
      },
    };
    Resources.BatchStateBridgeEventsPermission = permission('BatchStateBridgeLambdaFunction', { 'Fn::GetAtt': ['BatchStateRule', 'Arn'] });
    dlqSources.push({ 'Fn::GetAtt': ['BatchStateRule', 'Arn'] });
  }

  Resources.EventsDeadLetterQueuePolicy = {
    Type: 'AWS::SQS::QueuePolicy',
    Properties: {
      Queues: [{ Ref: 'EventsDeadLetterQueue' }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'RuleTargetsDeadLetter',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] },
            Condition: { ArnLike: { 'aws:SourceArn': dlqSources } },
          },
        ],
      },
    },
  };
  return { Resources };
}

module.exports = {
  RETRY_POLICY,
  inputTemplate,
  unroutedPattern,
  ruleResources,
  /** `${file(./deploy/triggers.cjs):resources}` */
  resources: generator(ruleResources),
};
