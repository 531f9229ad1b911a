/**
 * Setup file (vitest.config.ts): after each test, one turn of the event loop.
 *
 * A test file's process answers vitest through messages that only its event loop reads, and
 * vitest gives each of its calls 60 s (a fixed limit of its worker RPC). A file whose tests are
 * synchronous (the CLI tests run `joinflow` with spawnSync) never gave the loop a turn between
 * them: the whole file ran as one stretch, and when a busy machine made that stretch last more
 * than 60 s, the answer to vitest's first call was read after its limit and the run failed with
 * "[vitest-worker]: Timeout calling onTaskUpdate" though every test passed. Yielding here bounds
 * the stretch to one test.
 */
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
