'use strict';
/**
 * What classify-documents needs on AWS besides its Lambda functions (read by
 * deploy/workflow-resources.cjs at `serverless package` time): the DynamoDB table the `store` step
 * writes to, its name in the step's environment, and the two calls the step makes on it.
 * The key schema matches resultsTableDefinition() in results/dynamodb-results-table.ts.
 */
module.exports = ({ prefix, logicalPrefix }) => {
  const table = `${logicalPrefix}ResultsTable`;
  return {
    resources: {
      [table]: {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          TableName: `${prefix}-classify-results`,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'document', AttributeType: 'S' },
            { AttributeName: 'idx', AttributeType: 'N' },
          ],
          KeySchema: [
            { AttributeName: 'document', KeyType: 'HASH' },
            { AttributeName: 'idx', KeyType: 'RANGE' },
          ],
        },
      },
    },
    outputs: {
      [`${table}Name`]: { Value: { Ref: table } },
    },
    steps: {
      store: {
        environment: { CLASSIFY_RESULTS_TABLE: { Ref: table } },
        // BatchWriteItem puts the rows (and deletes a longer earlier version's tail, which Query finds).
        statements: [{ Effect: 'Allow', Action: ['dynamodb:BatchWriteItem', 'dynamodb:Query'], Resource: { 'Fn::GetAtt': [table, 'Arn'] } }],
      },
    },
  };
};
