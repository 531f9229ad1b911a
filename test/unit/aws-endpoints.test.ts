/** Which endpoint each AWS client of the CLI talks to: --endpoint, AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clientOptions } from '../../src/adapters/aws/config.ts';
import { awsConfig } from '../../src/cli/aws-options.ts';

describe('endpoints of the AWS clients', () => {
  afterEach(() => vi.unstubAllEnvs());

  it("takes a service's own AWS_ENDPOINT_URL_<SERVICE> before the shared AWS_ENDPOINT_URL", () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:4000');
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', 'http://127.0.0.1:4001');
    const config = awsConfig({});
    expect(clientOptions(config, 'dynamodb').endpoint).toBe('http://127.0.0.1:4001');
    expect(clientOptions(config, 'sqs').endpoint).toBe('http://127.0.0.1:4000');
  });

  // An AWS_ENDPOINT_URL_DYNAMODB left in the shell sent `status --endpoint <dev>` to it instead.
  it('sends every client to --endpoint when it is given, whatever the environment says', () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:4000');
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', 'http://127.0.0.1:4001');
    vi.stubEnv('AWS_ENDPOINT_URL_EVENTBRIDGE', 'http://127.0.0.1:4002');
    const config = awsConfig({ endpoint: 'http://127.0.0.1:4010' });
    for (const service of ['dynamodb', 'eventbridge', 's3', 'sqs'] as const) {
      expect(clientOptions(config, service).endpoint, service).toBe('http://127.0.0.1:4010');
    }
    expect(clientOptions(config, 's3').forcePathStyle).toBe(true);
  });

  it('talks to AWS itself with neither', () => {
    for (const name of ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_DYNAMODB']) vi.stubEnv(name, '');
    expect(clientOptions(awsConfig({ region: 'eu-west-1' }), 'dynamodb')).toEqual({ region: 'eu-west-1' });
  });
});
