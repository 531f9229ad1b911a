/**
 * `joinflow cwl-tool` as the command of an AWS Batch job (import cwl --executor batch): the event
 * arrives the way dispatch.ts sends it ($JOINFLOW_EVENT, or an S3 object at $JOINFLOW_EVENT_URI)
 * and the output is written where the Batch bridge reads it ($JOINFLOW_OUTPUT_URI), on s3rver.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputKey } from '../../src/adapters/aws/dispatch.ts';
import type { RunnerSpec } from '../../src/importers/cwl/spec.ts';
import { root } from '../helpers/cli.ts';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-cwl-batch-');
let s3: S3rverHandle;
beforeAll(async () => {
  s3 = await startS3rver('jobs');
});
afterAll(async () => {
  await s3?.close();
});

/** Runs the CLI without blocking this process, which serves s3rver. */
function cwlTool(spec: RunnerSpec, env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/joinflow.js'), 'cwl-tool', JSON.stringify(spec)], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: s3.endpoint, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const printf: RunnerSpec = {
  kind: 'tool',
  tool: {
    baseCommand: ['printf', '%s\\n'], arguments: [], successCodes: [0], env: {}, stdout: 'out.txt',
    inputs: [{ id: 'word', type: { base: 'string', depth: 0, optional: false }, binding: { position: 1, separate: true } }],
    outputs: [{ id: 'out', type: { base: 'File', depth: 0, optional: false }, stream: 'stdout' }],
  },
  in: { word: { ref: { item: true }, type: { base: 'string', depth: 0, optional: false } } },
};

async function object(key: string): Promise<string> {
  const res = await s3.client.send(new GetObjectCommand({ Bucket: 'jobs', Key: key }));
  return (await res.Body!.transformToString('utf-8'));
}

describe('joinflow cwl-tool in a Batch job', () => {
  it('reads the event from $JOINFLOW_EVENT_URI and writes the output to $JOINFLOW_OUTPUT_URI', async () => {
    const dir = tmp();
    const task = { runId: 'r1', step: 'say', item: 1, attempt: 2 };
    await s3.client.send(new PutObjectCommand({ Bucket: 'jobs', Key: 'joinflow/runs/r1/events/say.1.2.json', Body: JSON.stringify({ input: null, results: {}, item: 'hello', index: 1 }) }));
    const r = await cwlTool(printf, {
      JOINFLOW_RUN_ID: 'r1', JOINFLOW_STEP: 'say', JOINFLOW_ITEM: '1', JOINFLOW_ATTEMPT: '2',
      JOINFLOW_EVENT_URI: 's3://jobs/joinflow/runs/r1/events/say.1.2.json',
      JOINFLOW_OUTPUT_URI: `s3://jobs/${outputKey(task)}`,
      JOINFLOW_CWL_OUTDIR: path.join(dir, 'shared'),
    }, dir);
    expect(r.code, r.stderr).toBe(0);
    const output = JSON.parse(await object(outputKey(task))) as { out: { path: string; size: number } };
    expect(output.out.path).toBe(path.join(dir, 'shared/r1/say.1.2/out.txt'));
    expect(readFileSync(output.out.path, 'utf8')).toBe('hello\n');
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual(output);
  });

  it('takes a small event inline from $JOINFLOW_EVENT; a bad output URI fails the job naming the variable', async () => {
    const dir = tmp();
    const ok = await cwlTool(printf, { JOINFLOW_EVENT: JSON.stringify({ input: {}, results: {}, item: 'inline', index: 0 }), JOINFLOW_OUTPUT_URI: 's3://jobs/outputs/inline.json' }, dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync((JSON.parse(await object('outputs/inline.json')) as { out: { path: string } }).out.path, 'utf8')).toBe('inline\n');
    const bad = await cwlTool(printf, { JOINFLOW_EVENT: JSON.stringify({ input: {}, results: {}, item: 'x' }), JOINFLOW_OUTPUT_URI: 'https://example.invalid/out' }, dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('$JOINFLOW_OUTPUT_URI must be an s3://<bucket>/<key> URI, got "https://example.invalid/out"');
  });
});
