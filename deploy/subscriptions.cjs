'use strict';
/**
 * Subscriptions as EventBridge rules on the stage's bus, the same declarations the embedded
 * engine serves (joinflow.config.yaml and workflows' own `subscriptions:`):
 * - webhook  -> an API destination (with its connection) as the rule's target; EventBridge POSTs
 *               the event, retries 5xx/429 answers itself, and dead-letters into the events DLQ;
 * - workflow -> the processor Lambda, whose InputTransformer input `{subscription, event}` makes
 *               it start a run with the same deterministic run id as locally;
 * - command  -> local only (lib.buildModel warns and leaves it out).
 *
 * serverless.yml: `resources: - ${file(./deploy/subscriptions.cjs):resources}`
 */
const { generator } = require('./lib.cjs');

/** EventBridge keeps retrying a failed delivery for at most a day. */
const MAX_EVENT_AGE_S = 86400;
const DLQ = { Arn: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] } };

/** The CloudFormation resources of every deployed subscription. */
function subscriptionResources(model) {
  const { names, subscriptions } = model;
  const Resources = {};
  const destinations = [];
  for (const sub of subscriptions) {
    const t = sub.target;
    let target;
    if (t.type === 'webhook') {
      // API destinations need a connection with some authorization; a header naming the
      // subscription serves when the receiver wants none (put real secrets in the connection).
      Resources[`${sub.logicalId}Connection`] = {
        Type: 'AWS::Events::Connection',
        Properties: {
          Name: sub.destinationName,
          Description: `joinflow subscription ${sub.name}`.slice(0, 512),
          AuthorizationType: 'API_KEY',
          AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: 'x-joinflow-subscription', ApiKeyValue: sub.name } },
        },
      };
      Resources[`${sub.logicalId}Destination`] = {
        Type: 'AWS::Events::ApiDestination',
        Properties: {
          Name: sub.destinationName,
          ConnectionArn: { 'Fn::GetAtt': [`${sub.logicalId}Connection`, 'Arn'] },
          HttpMethod: 'POST',
          InvocationEndpoint: t.url,
          InvocationRateLimitPerSecond: 300,
        },
      };
      destinations.push({ 'Fn::GetAtt': [`${sub.logicalId}Destination`, 'Arn'] });
      target = {
        Id: 'webhook',
        Arn: { 'Fn::GetAtt': [`${sub.logicalId}Destination`, 'Arn'] },
        RoleArn: { 'Fn::GetAtt': ['SubscriptionsRole', 'Arn'] },
        ...(Object.keys(t.headers).length > 0 ? { HttpParameters: { HeaderParameters: t.headers } } : {}),
        // maxAttempts counts the first delivery; EventBridge counts retries (0-185).
        RetryPolicy: { MaximumRetryAttempts: Math.min(185, t.retry.maxAttempts - 1), MaximumEventAgeInSeconds: MAX_EVENT_AGE_S },
        DeadLetterConfig: DLQ,
      };
    } else {
      const start = JSON.stringify({ name: sub.name, workflow: t.workflow, inputPath: t.inputPath });
      target = {
        Id: 'start-run',
        Arn: { 'Fn::GetAtt': ['ProcessorLambdaFunction', 'Arn'] },
        InputTransformer: { InputTemplate: `{"subscription": ${start}, "event": <aws.events.event.json>}` },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: MAX_EVENT_AGE_S },
        DeadLetterConfig: DLQ,
      };
    }
    Resources[sub.logicalId] = {
      Type: 'AWS::Events::Rule',
      Properties: {
        Name: sub.ruleName,
        Description: `joinflow subscription ${sub.name}`.slice(0, 512),
        EventBusName: { Ref: 'EventBus' },
        EventPattern: sub.pattern,
        State: 'ENABLED',
        Targets: [target],
      },
    };
  }
  if (destinations.length > 0) {
    Resources.SubscriptionsRole = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        },
        Policies: [
          {
            PolicyName: `${names.prefix}-subscriptions`,
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [{ Effect: 'Allow', Action: 'events:InvokeApiDestination', Resource: destinations }],
            },
          },
        ],
      },
    };
  }
  return { Resources };
}

module.exports = {
  subscriptionResources,
  /** `${file(./deploy/subscriptions.cjs):resources}` */
  resources: generator(subscriptionResources),
};
