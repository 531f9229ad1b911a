/**
 * An unusable state dir through the real bin: one line naming the directory and the cause, exit 2
 * (never a stack trace, never exit 1, which means "the run failed"), and "move it away" only for a
 * database that is not a valid one. Permission cases run the bin as a user without write access:
 * as root (whom modes do not stop), as nobody (uid 65534).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, cpSync, existsSync, mkdirSync, openSync, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stateDirError, StateFileError } from '../../src/adapters/local/sqlite-schema.ts';
import { openSqliteState } from '../../src/adapters/local/sqlite-state.ts';
import { environmentError } from '../../src/cli/main.ts';
import { joinflow, root } from '../helpers/cli.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-state-dir-');
const WORKFLOW = 'workflows/diamond.ts';
const isRoot = process.getuid?.() === 0;

/** The bin as a user that may not write what these tests make read-only (nobody, when root). */
function asUser(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/joinflow.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
    input: '',
    env: { ...process.env, FORCE_COLOR: '0' },
    timeout: 60_000,
    ...(isRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A state dir with one finished run in it; returns [dir, runId]. */
function stateWithRun(): [string, string] {
  const dir = tmp();
  chmodSync(dir, 0o755); // nobody must reach what is inside
  const state = path.join(dir, 'state');
  const r = joinflow(['run', WORKFLOW, '--json', '--state', state]);
  expect(r.code, r.stderr).toBe(0);
  return [state, (JSON.parse(r.stdout) as { runId: string }).runId];
}

/** One line on stderr (no stack trace), exit 2, mentioning each of `parts`. */
function expectRefused(r: { code: number; stdout: string; stderr: string }, ...parts: string[]): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  for (const p of parts) expect(r.stderr).toContain(p);
}

/** Every command that reads a state dir, given the run id to name. */
function readers(runId: string, dir: string): string[][] {
  return [
    ['list'],
    ['status', runId],
    ['logs', runId],
    ['dlq', 'list'],
    ['events', 'tail', '--no-follow'],
    // In /tmp (world-writable): the output file is checked before the state, and must not be what is refused.
    ['timeline', runId, '-o', path.join(tmpdir(), `jf-state-dir-${process.pid}-t.html`)],
  ];
}

describe('an unusable state dir', () => {
  it('a regular file as --state (or in its path): not a directory, exit 2, for every command', () => {
    const dir = tmp();
    const file = path.join(dir, 'afile');
    writeFileSync(file, 'not a directory\n');
    for (const args of [['run', WORKFLOW], ['gc'], ['resume'], ['cancel', 'r1'], ...readers('r1', dir)]) {
      expectRefused(joinflow([...args, '--state', file]), `state dir ${file}: not a directory`);
      expectRefused(joinflow([...args, '--state', path.join(file, 'sub')]), `${file} is not a directory`);
    }
  });

  // A spinning bin is killed by joinflow()'s spawnSync timeout: no exit 2, no line on stderr.
  it.runIf(process.platform === 'linux' && existsSync('/proc/self'))('a state dir that cannot be created in /proc fails at once instead of spinning', () => {
    expectRefused(joinflow(['run', WORKFLOW, '--state', '/proc/jf-state']), 'state dir /proc/jf-state: cannot create it', '/proc');
    expectRefused(joinflow(['run', WORKFLOW, '--state', '/proc/jf-state/sub']), 'cannot create /proc/jf-state');
  });

  it('a directory this user may not write: no permission, exit 2, for the dir itself and below it', () => {
    const dir = tmp();
    chmodSync(dir, 0o755);
    const ro = path.join(dir, 'ro');
    mkdirSync(ro, { mode: 0o555 });
    chmodSync(ro, 0o555);
    try {
      expectRefused(asUser(['run', WORKFLOW, '--state', ro]), `no permission to write in ${ro} (EACCES)`, 'joinflow needs write access');
      expectRefused(asUser(['run', WORKFLOW, '--state', path.join(ro, 'st')]), `state dir ${path.join(ro, 'st')}: cannot create it: no permission to write in ${ro} (EACCES)`);
      expect(existsSync(path.join(ro, 'st'))).toBe(false);
    } finally {
      chmodSync(ro, 0o755);
    }
    // One it may not even look into.
    const closed = path.join(dir, 'closed');
    mkdirSync(closed);
    writeFileSync(path.join(closed, 'state.db'), '');
    chmodSync(closed, 0o000);
    try {
      expectRefused(asUser(['list', '--state', closed]), `state dir ${closed}: cannot look into it (EACCES)`);
      expectRefused(asUser(['run', WORKFLOW, '--state', path.join(closed, 'st')]), `no permission to look into ${closed} (EACCES)`);
    } finally {
      chmodSync(closed, 0o755);
    }
  });

  it('a good state dir this user may not write: every command says so, none says to move it away', () => {
    const [state, runId] = stateWithRun();
    chmodSync(path.join(state, 'state.db'), 0o444);
    chmodSync(state, 0o555);
    try {
      for (const args of [...readers(runId, state), ['gc'], ['resume'], ['resume', runId], ['cancel', runId], ['run', WORKFLOW]]) {
        const r = asUser([...args, '--state', state]);
        expectRefused(r, state, 'joinflow needs write access');
        expect(r.stderr).not.toContain('move it away');
      }
      expect(asUser(['list', '--state', state]).stderr).toContain('also to read it (SQLite WAL)');
      expect(asUser(['cancel', runId, '--state', state]).stderr).toContain(`no permission to write ${path.join(state, 'runs.lock')} (EACCES)`);
    } finally {
      chmodSync(state, 0o777);
    }
    // With the directory writable again, SQLite reads the read-only database; what writes is told which file.
    const r = asUser(['list', '--state', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(runId);
    expectRefused(asUser(['gc', '--state', state]), `${path.join(state, 'state.db')}: cannot write the state database: no permission to write it (EACCES)`);
  });

  it('only a database that is not a valid one is worth moving away', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'state.db'), 'this is not a database, just some text that is long enough to have a header'.repeat(20));
    for (const args of [['list'], ['run', WORKFLOW]]) {
      expectRefused(joinflow([...args, '--state', dir]), path.join(dir, 'state.db'), 'not a valid state database', 'move it away to start afresh');
    }
  });

  it('names the cause of an errno error by its code: read-only file system, no permission, not a directory', () => {
    const error = (code: string, file: string) => Object.assign(new Error(`${code}: ${file}`), { code, syscall: 'open', path: file });
    const lock = '/srv/state/runs.lock';
    const rofs = stateDirError('/srv/state', error('EROFS', lock));
    expect(rofs).toBeInstanceOf(StateFileError);
    expect((rofs as StateFileError).code).toBe('STATE_DIR');
    expect((rofs as Error).message).toBe(`state dir /srv/state: ${lock} is on a read-only file system (EROFS); joinflow needs write access to the state dir.`);
    expect((stateDirError('/srv/state', error('EACCES', lock)) as Error).message).toContain(`no permission to write ${lock} (EACCES)`);
    expect((stateDirError('/srv/state', error('EPERM', lock)) as Error).message).toContain(`not permitted to write ${lock} (EPERM)`);
    expect((stateDirError('/srv/state', error('ENOTDIR', '/srv/state/cancel')) as Error).message).toContain('/srv/state/cancel is not a directory (ENOTDIR)');
    const other = new Error('not a file system error');
    expect(stateDirError('/srv/state', other)).toBe(other);
    const said = new StateFileError('STATE_DIR', '/srv/state', 'state dir /srv/state: not a directory.');
    expect(stateDirError('/srv/state', said)).toBe(said);
    // What no command turned into its own message still comes out as one line (exit 2).
    expect(environmentError(error('EROFS', '/srv/x'))).toBe('/srv/x: read-only file system (EROFS, open)');
    expect(environmentError(Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }))).toContain('joinflow needs write access');
    expect(environmentError(Object.assign(new Error('x'), { code: 'ENOENT', syscall: 'open' }))).toBeUndefined();
    expect(environmentError(new Error('plain'))).toBeUndefined();
  });

  it('a state database damaged after it opened: one line naming the file and what cannot be read, exit 2', () => {
    const [good, runId] = stateWithRun();
    const damage = (how: (db: Database.Database) => void, page?: (db: Database.Database) => number): string => {
      const dir = tmp();
      cpSync(good, dir, { recursive: true });
      const db = new Database(path.join(dir, 'state.db'));
      how(db);
      const at = page?.(db);
      db.close();
      if (at !== undefined) {
        const fd = openSync(path.join(dir, 'state.db'), 'r+');
        writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, at);
        closeSync(fd);
      }
      return dir;
    };
    const file = (dir: string) => path.join(dir, 'state.db');
    // Bytes of a run's journal rows changed on disk.
    let dir = damage((db) => db.prepare('UPDATE journal SET facts = ? WHERE run_id = ?').run(Buffer.from([7, 1, 255, 0, 3]), runId));
    expectRefused(joinflow(['status', runId, '--state', dir]), file(dir), `a journal row of run ${runId} cannot be read: the state database is damaged`, 'move the file away to start afresh');
    // Its plan's JSON cut short.
    dir = damage((db) => db.prepare('UPDATE plans SET json = substr(json, 1, 40)').run());
    expectRefused(joinflow(['status', runId, '--state', dir]), file(dir), `the plan of run ${runId} cannot be read: the state database is damaged`);
    // A page of the journal's table that is no B-tree page: SQLite finds it when it reads it.
    dir = damage(
      (db) => db.pragma('wal_checkpoint(TRUNCATE)'),
      (db) => {
        const { rootpage } = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'journal'").get() as { rootpage: number };
        return (rootpage - 1) * (db.pragma('page_size', { simple: true }) as number);
      },
    );
    expectRefused(joinflow(['status', runId, '--state', dir]), file(dir), 'not a valid state database', 'SQLITE_CORRUPT', 'move it away to start afresh');
    // A state dir of the row store (schema 2), whose events are rows of JSON.
    const rows = tmp();
    openSqliteState({ dir: rows }).close();
    const ran = joinflow(['run', WORKFLOW, '--json', '--state', rows]);
    expect(ran.code, ran.stderr).toBe(0);
    const rowsRun = (JSON.parse(ran.stdout) as { runId: string }).runId;
    const db = new Database(file(rows));
    db.prepare('UPDATE events SET json = substr(json, 1, 30)').run();
    db.close();
    expectRefused(joinflow(['status', rowsRun, '--state', rows]), file(rows), `an event of run ${rowsRun} cannot be read: the state database is damaged`);
  });

  it.runIf(isRoot && process.platform === 'linux')('a state dir on a full file system: says so at open, for a new and an existing state.db (not SQLITE_IOERR_SHMSIZE alone), exit 2', (ctx) => {
    const dir = tmp();
    // A 512 KB tmpfs, filled up (root may mount one; where mounts are forbidden the test is reported skipped).
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir], { encoding: 'utf8' });
    if (mounted.status !== 0) ctx.skip(`cannot mount a tmpfs here: ${mounted.stderr.trim()}`);
    try {
      const made = joinflow(['run', WORKFLOW, '--state', path.join(dir, 'old')]);
      expect(made.code, made.stderr).toBe(0);
      spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'fill')}`, 'bs=1k', 'count=2000']);
      expect(statfsSync(dir).bavail).toBe(0);
      for (const [state, sqlite] of [['old', 'SQLITE_IOERR_SHMSIZE'], ['new', 'SQLITE_FULL']] as const) {
        const r = joinflow(['run', WORKFLOW, '--state', path.join(dir, state)]);
        expectRefused(r, `${path.join(dir, state, 'state.db')}: cannot open the state database: the file system of ${path.join(dir, state)} is full (no space left)`, sqlite, 'free some space');
      }
      expectRefused(joinflow(['list', '--state', path.join(dir, 'old')]), 'is full (no space left)');
    } finally {
      spawnSync('umount', [dir]);
    }
  });

  it.runIf(process.platform === 'linux')('gc on a database that cannot grow (a full disk): what it can do is done, one note, no stack trace', async () => {
    const dir = tmp();
    const state = path.join(dir, 'state');
    const file = path.join(dir, 'long.yaml');
    writeFileSync(file, 'name: long\nsteps:\n  wait:\n    executor: { type: simulate, durationMs: 600000 }\n');
    // A killed engine leaves its commits in the WAL, which a checkpoint copies into state.db.
    // Its input makes the database far larger than the -shm file, whose size the limit below allows.
    writeFileSync(path.join(dir, 'input.json'), JSON.stringify({ pad: 'x'.repeat(200_000) }));
    const engine = spawn(process.execPath, [path.join(root, 'bin/joinflow.js'), 'run', file, '--input', `@${path.join(dir, 'input.json')}`, '--state', state, '--run-id', 'cut'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => engine.on('exit', resolve));
    for (;;) {
      const r = joinflow(['list', '--state', state, '--json']);
      if (r.code === 0 && r.stdout.includes('"running"')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    engine.kill('SIGKILL');
    await exited;
    const shm = statSync(`${path.join(state, 'state.db')}-shm`).size;
    expect(statSync(`${path.join(state, 'state.db')}-wal`).size).toBeGreaterThan(4 * shm);
    // A limit on file size stands in for a full disk: the files may not grow past the -shm file's
    // size, which opening the database writes in; state.db cannot take the WAL (an I/O error).
    const blocks = Math.floor(shm / 512);
    const gc = spawnSync('sh', ['-c', `trap '' XFSZ; ulimit -f ${blocks}; exec "$0" "$@"`, process.execPath, path.join(root, 'bin/joinflow.js'), 'gc', '--state', state], { encoding: 'utf8', timeout: 60_000 });
    expect(gc.stderr).not.toMatch(/^\s+at /m);
    expect(gc.stderr).toContain('joinflow gc: removed 0 finished run(s)');
    expect(gc.status, gc.stderr).toBe(0);
    // The run is as it was, and goes on once there is room.
    expect(JSON.parse(joinflow(['list', '--state', state, '--json']).stdout)).toMatchObject([{ runId: 'cut', status: 'running', interrupted: true }]);
    expect(joinflow(['cancel', 'cut', '--state', state]).code).toBe(0);
  });
});
