/**
 * Fuzzes workflow definitions: >= 1,000 mutated JS objects through compileWorkflow and a few
 * hundred YAML/JSON files through loadDefinition / compileFile. Every case must compile to a plan
 * that serializes byte-identically on a second compile, or throw a WorkflowDefinitionError whose
 * problems all have messages and whose message names the file. The cases run in a child process
 * (definition-harness.ts) with a 2 s watchdog each, so a hang or a crash fails the test with the
 * case that caused it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCase, type CaseReport, type CaseRequest, type PrototypeReport } from './definition-harness.ts';
import { PINNED } from './definition-pinned.ts';

const root = path.resolve(import.meta.dirname, '../..');
const SEED = 0x10f1a7;
const OBJECT_CASES = 1200;
const TEXT_CASES = 300;
const CASE_LIMIT_MS = 2000;

type Reply = CaseReport | PrototypeReport | { type: 'ready'; dir: string };

/** The child, with a queue of its replies and the tail of its stderr (for crash reports). */
class Harness {
  readonly #child: ChildProcess;
  readonly #replies: Reply[] = [];
  #waiter: (() => void) | undefined;
  #stderr = '';
  exited: string | undefined;

  constructor(seed: number) {
    this.#child = fork(path.join(import.meta.dirname, 'definition-harness.ts'), [String(seed)], {
      cwd: root,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, JOINFLOW_FUZZ_HARNESS: '1' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.#child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    this.#child.on('message', (m: Reply) => {
      this.#replies.push(m);
      this.#waiter?.();
    });
    this.#child.on('exit', (code, signal) => {
      const fatal = /^.*(FATAL|Error).*$/m.exec(this.#stderr)?.[0];
      this.exited = `${signal ?? `exit code ${code}`}${fatal ? `: ${fatal.slice(0, 300)}` : ''}; stderr ends: ${this.#stderr.trim().slice(-600)}`;
      this.#waiter?.();
    });
  }

  send(message: CaseRequest | { type: 'finish' }): void {
    this.#child.send(message);
  }

  /** The next reply, or undefined when the child died or said nothing within `ms`. */
  async next(ms: number): Promise<Reply | undefined> {
    if (this.#replies.length === 0 && this.exited === undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
    return this.#replies.shift();
  }

  /** Waits for the child to start; returns its scratch directory. */
  async ready(): Promise<string> {
    const reply = await this.next(30_000);
    if (reply?.type !== 'ready') throw new Error(`the harness did not start: ${this.exited ?? JSON.stringify(reply)}`);
    return reply.dir;
  }

  kill(): void {
    if (this.exited === undefined) this.#child.kill('SIGKILL');
  }
}

describe('fuzzing workflow definitions', () => {
  it(`compiles to a stable plan or rejects with a WorkflowDefinitionError: ${PINNED.length} pinned, ${OBJECT_CASES} objects, ${TEXT_CASES} files`, async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    let harness = new Harness(SEED);
    let restarts = 0;
    const dirs: string[] = [];
    const requests: Array<Omit<CaseRequest, 'type'>> = [
      ...PINNED.map((_, index) => ({ set: 'pinned' as const, index })),
      ...Array.from({ length: OBJECT_CASES }, (_, index) => ({ set: 'object' as const, index })),
      ...Array.from({ length: TEXT_CASES }, (_, index) => ({ set: 'text' as const, index })),
    ];
    const failures: string[] = [];
    const counts = new Map<string, number>();
    let slowest = { ms: 0, label: '' };
    let checked = 0;
    const started = Date.now();
    try {
      // Startup compiles the sources with tsx: it gets more than one case's budget.
      dirs.push(await harness.ready());
      for (const request of requests) {
        harness.send({ type: 'case', ...request });
        const reply = await harness.next(CASE_LIMIT_MS);
        const name = () => `${request.set} case #${request.index} (${buildCase(SEED, request).label.slice(0, 300)})`;
        if (reply === undefined || reply.type !== 'report') {
          failures.push(`${name()}: ${harness.exited ? `the process died: ${harness.exited}` : `no answer within ${CASE_LIMIT_MS} ms (hang)`}`);
          // Go on in a fresh process, so that one run reports every case that crashes or hangs.
          harness.kill();
          if (++restarts > 10) break;
          harness = new Harness(SEED);
          dirs.push(await harness.ready());
          continue;
        }
        const key = `${request.set === 'pinned' ? 'pinned' : reply.via} ${reply.outcome}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (reply.ms > slowest.ms) slowest = { ms: reply.ms, label: reply.label.slice(0, 100) };
        if (reply.checked) checked++;
        if (reply.ms > CASE_LIMIT_MS) failures.push(`${name()}: took ${Math.round(reply.ms)} ms`);
        for (const f of reply.failures) failures.push(`${name()}: ${f}`);
      }
      if (restarts === 0) {
        harness.send({ type: 'finish' });
        const report = await harness.next(5000);
        expect(report?.type, harness.exited).toBe('prototype');
        const proto = report as PrototypeReport;
        // Object.prototype in the child, where every case ran, is as it was; nothing leaks to {}.
        expect(proto.changed).toEqual([]);
        expect(proto.leaked).toEqual([]);
      }
    } finally {
      harness.kill();
      // A child that crashed or was killed could not remove its own files.
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
    console.log(`definition fuzzing: ${requests.length} cases (${checked} with an expected outcome) in ${Date.now() - started} ms; ` +
      `${[...counts].sort().map(([k, v]) => `${k}: ${v}`).join(', ')}; slowest ${Math.round(slowest.ms)} ms (${slowest.label})`);
    expect(failures.slice(0, 40)).toEqual([]);
    const total = (pred: (k: string) => boolean) => [...counts].filter(([k]) => pred(k)).reduce((s, [, v]) => s + v, 0);
    // The fuzzing is only worth something if both paths are exercised, through every entry point.
    expect(total((k) => k.startsWith('compileWorkflow'))).toBe(OBJECT_CASES);
    expect(total((k) => k.startsWith('compileWorkflow compiled'))).toBeGreaterThan(OBJECT_CASES / 10);
    expect(total((k) => k.startsWith('compileWorkflow rejected'))).toBeGreaterThan(OBJECT_CASES / 2);
    for (const via of ['loadDefinition', 'compileFile']) {
      expect(total((k) => k.startsWith(`${via} compiled`))).toBeGreaterThan(10);
      expect(total((k) => k.startsWith(`${via} rejected`))).toBeGreaterThan(50);
    }
    // Single mutations carry the answer the compiler owes them (which problem, or a plan).
    expect(checked).toBeGreaterThan(OBJECT_CASES / 2);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
