/** `joinflow status --endpoint/--table`: a table that cannot be read is a message, not a stack trace. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynalite, type DynaliteHandle } from '../helpers/dynalite.ts';
import { root } from '../helpers/cli.ts';

/** The CLI in a child process, asynchronously: dynalite runs in this process and must answer. */
function joinflowAsync(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'bin/joinflow.js'), ...args], { cwd: root, env, timeout: 60_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stderr });
    });
  });
}

/** The environment without any AWS credentials or configuration of the machine's. */
function bareEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  return { ...env, AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

let db: DynaliteHandle;
beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db.close();
});

describe('joinflow status against a stage', () => {
  it('names the table and what to check when it is missing, or when there are no credentials (exit 2)', async () => {
    const keys = { AWS_ACCESS_KEY_ID: 'DYNALITE', AWS_SECRET_ACCESS_KEY: 'DYNALITE' };
    let r = await joinflowAsync(['status', 'r1', '--endpoint', db.endpoint, '--region', 'us-east-1', '--stage', 'nosuch'], bareEnv(keys));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`reading run "r1" from table "joinflow-nosuch" (region us-east-1, endpoint ${db.endpoint}) failed: ResourceNotFoundException`);
    expect(r.stderr).toContain('is stage "nosuch" deployed?');
    // Only the command's own message: not the AWS SDK's Node 20 support warning (main.ts turns it off).
    expect(r.stderr).not.toContain('NodeVersionSupportWarning');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    r = await joinflowAsync(['status', 'r1', '--endpoint', db.endpoint, '--region', 'us-east-1'], bareEnv({}));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('failed: CredentialsProviderError');
    expect(r.stderr).toContain('give AWS credentials');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
