/**
 * The peer bench's private Redis (bench/peers/redis.ts), and a converted DAG run by HyperFlow
 * itself. Skipped where redis-server, or the peer (`npm run bench:peers` installs it), is missing.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PEER_DIR, runHyperFlow, writeHyperFlowWorkflow } from '../../bench/peers/hyperflow-peer.ts';
import { findRedisServer, startRedis } from '../../bench/peers/redis.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('joinflow-peer-redis-test-');

function installed(): boolean {
  try {
    findRedisServer();
    return true;
  } catch {
    return false;
  }
}

/** Sends inline commands, then QUIT; resolves with everything the server said, or the error code. */
function talk(port: number, commands: string[]): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.on('data', (c) => (reply += c.toString()));
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    socket.once('end', () => resolve(reply));
    socket.once('connect', () => socket.write(`${[...commands, 'QUIT'].join('\r\n')}\r\n`));
  });
}

describe('findRedisServer', () => {
  it('tells how to install redis-server when REDIS_SERVER is not an executable', () => {
    expect(() => findRedisServer({ REDIS_SERVER: path.join(tmp(), 'missing') })).toThrow(/apt-get install redis-server/);
  });

  it('prefers REDIS_SERVER, then PATH', () => {
    const dir = tmp();
    const fake = path.join(dir, 'redis-server');
    writeFileSync(fake, '#!/bin/sh\n');
    chmodSync(fake, 0o755);
    expect(findRedisServer({ REDIS_SERVER: fake, PATH: '' })).toBe(fake);
    expect(findRedisServer({ PATH: dir })).toBe(fake);
  });
});

describe.skipIf(!installed())('startRedis', () => {
  it('serves on loopback without persistence, and stop() ends it and removes its directory', async () => {
    const redis = await startRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(existsSync(redis.dir)).toBe(true);
    const reply = await talk(redis.port, ['PING', 'CONFIG GET save', 'CONFIG GET appendonly', 'CONFIG GET bind']);
    expect(reply).toContain('+PONG');
    expect(reply).toContain('$4\r\nsave\r\n$0\r\n');
    expect(reply).toContain('$10\r\nappendonly\r\n$2\r\nno\r\n');
    expect(reply).toContain('127.0.0.1');
    await redis.stop();
    expect(existsSync(redis.dir)).toBe(false);
    expect(await talk(redis.port, ['PING'])).toBe('ECONNREFUSED');
    await redis.stop();
  });

  it('with persistence "aof" appends every write to a file fsynced once a second', async () => {
    const redis = await startRedis({ persistence: 'aof' });
    try {
      const reply = await talk(redis.port, ['CONFIG GET appendonly', 'CONFIG GET appendfsync', 'CONFIG GET save', 'SET k v']);
      expect(reply).toContain('$10\r\nappendonly\r\n$3\r\nyes\r\n');
      expect(reply).toContain('$11\r\nappendfsync\r\n$8\r\neverysec\r\n');
      expect(reply).toContain('$4\r\nsave\r\n$0\r\n');
    } finally {
      await redis.stop();
    }
  });
});

const peerInstalled = existsSync(path.join(PEER_DIR, 'node_modules', '@hyperflow', 'hyperflow', 'package.json'));

describe.skipIf(!installed() || !peerInstalled)('HyperFlow on a converted DAG', () => {
  it('runs every task of a diamond exactly once per run and finishes', async () => {
    const dir = tmp();
    writeHyperFlowWorkflow({ name: 'diamond', steps: { a: {}, b: { needs: ['a'] }, c: { needs: ['a'] }, d: { needs: ['b', 'c'] } } }, dir);
    const redis = await startRedis();
    try {
      const sample = await runHyperFlow('diamond', dir, redis.url, 2, 60_000);
      expect(sample).toMatchObject({ tasks: 4, runs: 2, calls: 8, finished: 8 });
    } finally {
      await redis.stop();
    }
  });

  it('rejects, naming the shape, a process that exits 0 without its result line', async () => {
    const dir = tmp();
    writeHyperFlowWorkflow({ name: 'diamond', steps: { a: {}, b: { needs: ['a'] } } }, dir);
    // A task that ends the process quietly, as an exit inside HyperFlow would.
    writeFileSync(path.join(dir, 'functions.js'), "'use strict';\nmodule.exports = { noop: () => process.exit(0), calls: () => 0 };\n");
    const redis = await startRedis();
    try {
      await expect(runHyperFlow('diamond', dir, redis.url, 1, 60_000)).rejects.toThrow(/^HyperFlow on diamond: exited 0 without its result line/);
    } finally {
      await redis.stop();
    }
  });
});

describe('the joinflow side of the peer bench', () => {
  it('runs a shape `runs` times in one process and reports the first run as cold and the median of the last half as warm', async () => {
    const { execFileSync } = await import('node:child_process');
    const child = path.resolve(import.meta.dirname, '../../bench/peers/joinflow-child.ts');
    const out = execFileSync(process.execPath, ['--import', 'tsx', child, 'montage', 'memory', 'simulate', '4'], { encoding: 'utf8' });
    const sample = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
    // Steps that succeeded over all 4 runs: the bench holds this to tasks x runs.
    expect(sample).toMatchObject({ tasks: 58, succeeded: 232, runs: 4 });
    expect(sample['coldMs']).toBeGreaterThan(0);
    expect(sample['ms']).toBeGreaterThan(0);
    expect(() => execFileSync(process.execPath, ['--import', 'tsx', child, 'montage', 'memory', 'simulate', '0'], { encoding: 'utf8', stdio: 'pipe' })).toThrow(/runs must be a positive integer/);
  });
});
