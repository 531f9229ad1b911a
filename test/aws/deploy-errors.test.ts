/** deploy/lib.cjs: a stack that cannot be built is said once, before serverless reports each ${file()} that needed it. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from '../helpers/cli.ts';

describe('deploy model errors', () => {
  it('print one line naming the stage and the problem, and exit 1', () => {
    const script = `
      const { context } = require(${JSON.stringify(path.join(root, 'deploy/lib.cjs'))});
      const vars = { 'self:service': 'joinflow', 'sls:stage': 'dev', 'self:provider.region': 'us-east-1' };
      context({ resolveVariable: async (v) => vars[v], resolveConfigurationProperty: async () => ({ ruleBudget: 5 }) }).then(() => console.log('built'));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('built');
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('joinflow: cannot build the stack'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^joinflow: cannot build the stack of stage "dev": 0 subscriptions leave room for only 5 trigger rules, fewer than the \d+ workflows: deploy them as several services$/);
  });
});
