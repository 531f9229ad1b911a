/** Which process is a live joinflow engine: the check behind list's "interrupted", resume and cancel. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive } from '../../src/cli/state.ts';
import { engineIdentity, processStart } from '../../src/adapters/local/process-identity.ts';
import { root } from '../helpers/cli.ts';

describe('alive', () => {
  it('is true for a running joinflow process, false once it is gone and for a process that is not joinflow (a reused pid)', async () => {
    const other = spawn('sleep', ['30']);
    // Stands in for an engine: a process whose command line names joinflow, as bin/joinflow.js's does.
    const engine = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', path.join(root, 'bin/joinflow.js')], { stdio: 'ignore' });
    const exited = once(engine, 'exit');
    const started = Promise.all([once(other, 'spawn'), once(engine, 'spawn')]);
    try {
      await started;
      expect(alive(engine.pid)).toBe(true);
      if (process.platform === 'linux') expect(alive(other.pid)).toBe(false);
      expect(alive(undefined)).toBe(false);
      expect(alive(-1)).toBe(false);
    } finally {
      other.kill('SIGKILL');
      engine.kill('SIGKILL');
    }
    await exited;
    expect(alive(engine.pid)).toBe(false);
  });
});

describe('engineIdentity', () => {
  it('names this process, with its start time where /proc tells, and hands out a copy each time', () => {
    const first = engineIdentity();
    expect(first.pid).toBe(process.pid);
    expect(first.pidStart).toBe(processStart());
    if (process.platform === 'linux') expect(alive(first.pid, first.pidStart)).toBe(true);
    // Read once per process: a caller that changes what it got does not change the next answer.
    (first as { pid: number }).pid = -1;
    expect(engineIdentity()).toEqual({ pid: process.pid, ...(processStart() === undefined ? {} : { pidStart: processStart() }) });
  });
});
