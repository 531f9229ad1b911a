import { afterEach } from 'vitest';
import type { Engine } from '../../src/adapters/local/engine.ts';

/** Engines a test file opens, each with its state (or a stand-in): all are closed after every test. */
export function closedAfterEach(): Array<{ engine: Engine; state: { close(): void } }> {
  const open: Array<{ engine: Engine; state: { close(): void } }> = [];
  afterEach(async () => {
    for (const { engine, state } of open.splice(0)) {
      await engine.close();
      state.close();
    }
  });
  return open;
}
