/**
 * `status` and `list` of very wide runs: their column widths are not taken by spreading every
 * row into Math.max (130,000 arguments overflow the stack).
 */
import { describe, expect, it, vi } from 'vitest';
import { createEngine } from '../../src/adapters/local/engine.ts';
import { openDurableState } from '../../src/adapters/local/durable-state.ts';
import { statusCommand } from '../../src/cli/status-command.ts';
import { compileWorkflow } from '../../src/compiler/compile.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-wide-status-');

describe('status of a run of 130,000 items', () => {
  it('prints every item, its name column as wide as the widest', { timeout: 120_000 }, async () => {
    const dir = tmp();
    const state = openDurableState({ dir });
    const engine = createEngine({ store: state.store, log: state.log, stateDir: dir });
    engine.register(compileWorkflow({
      name: 'wide',
      steps: {
        split: { executor: { type: 'simulate', durationMs: 0, output: Array.from({ length: 130_000 }, (_, i) => i) } },
        item: { needs: ['split'], forEach: 'split', executor: { type: 'simulate', durationMs: 0 } },
      },
    }, { source: 'test' }));
    const run = await engine.run('wide', null, { runId: 'wide-1' });
    expect(run.status).toBe('succeeded');
    await engine.close();
    state.close();
    let out = '';
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    try {
      expect(await statusCommand(['wide-1', '--state', dir])).toBe(0);
    } finally {
      write.mockRestore();
    }
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^run wide-1 \(wide\): succeeded/);
    // The time as status writes it: "12 ms", or "1.4 s" on a machine busy enough to take that long.
    const took = String.raw`(\d+ ms|\d+\.\d s|\d+m \d\ds)`;
    expect(lines.filter((l) => new RegExp(String.raw`^ {2}succeeded {2}item\[129999\] {2}1 attempt, ${took}$`).test(l))).toHaveLength(1);
    expect(lines.filter((l) => new RegExp(String.raw`^ {2}succeeded {2}item\[7\] {7}1 attempt, ${took}$`).test(l))).toHaveLength(1);
  });
});
