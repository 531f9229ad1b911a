/** Output files named by flags (--trace, -o): checked before any work, and left as they were. */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { outputFile, workflowOutput } from '../../src/cli/input.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-outfile-');

describe('outputFile', () => {
  it('leaves an existing file as it was, and no file behind where there was none', () => {
    const dir = tmp();
    const kept = path.join(dir, 'kept.json');
    writeFileSync(kept, 'before');
    expect(outputFile('--trace', kept)).toBe(kept);
    expect(readFileSync(kept, 'utf8')).toBe('before');
    const fresh = path.join(dir, 'fresh.json');
    expect(outputFile('--trace', fresh)).toBe(fresh);
    expect(existsSync(fresh)).toBe(false);
    // Through a link: the file it points to is not changed either, and a dangling link is left
    // as it is (its target not made, the link not removed).
    symlinkSync(kept, path.join(dir, 'link.json'));
    outputFile('-o', path.join(dir, 'link.json'));
    expect(readFileSync(kept, 'utf8')).toBe('before');
    symlinkSync(path.join(dir, 'target.json'), path.join(dir, 'dangling.json'));
    outputFile('--trace', path.join(dir, 'dangling.json'));
    expect(lstatSync(path.join(dir, 'dangling.json')).isSymbolicLink()).toBe(true);
    expect(existsSync(path.join(dir, 'target.json'))).toBe(false);
  });

  it('refuses what cannot be written, naming the flag and the file; a FIFO or a device is not opened', () => {
    const dir = tmp();
    expect(() => outputFile('--trace', '')).toThrow('--trace: the file name is empty');
    expect(() => outputFile('-o', dir)).toThrow(`-o ${dir}: is a directory, not a file`);
    expect(() => outputFile('-o', path.join(dir, 'no', 'x.json'))).toThrow(`directory ${path.join(dir, 'no')} does not exist`);
    expect(() => outputFile('--trace', '/proc/x.json')).toThrow(/--trace \/proc\/x\.json: cannot write: /);
    const readOnly = path.join(dir, 'ro.json');
    writeFileSync(readOnly, '');
    chmodSync(readOnly, 0o444);
    if (process.getuid?.() !== 0) expect(() => outputFile('-o', readOnly)).toThrow(/cannot write/);
    // Opening a FIFO for writing would wait for a reader: it is taken as it is.
    const fifo = path.join(dir, 'fifo');
    if (spawnSync('mkfifo', [fifo]).status === 0) expect(outputFile('-o', fifo)).toBe(fifo);
    expect(outputFile('-o', '/dev/null')).toBe('/dev/null');
  });

  it("an importer's -o says JSON or YAML", () => {
    const dir = tmp();
    for (const ok of ['w.json', 'w.yaml', 'w.yml']) expect(workflowOutput('-o', path.join(dir, ok))).toBe(path.join(dir, ok));
    for (const bad of ['w.ts', 'w', 'w.json.txt', 'w.JSON']) expect(() => workflowOutput('-o', path.join(dir, bad))).toThrow('the workflow is written as JSON');
    // A device: the default format, JSON.
    expect(workflowOutput('-o', '/dev/null')).toBe('/dev/null');
  });
});
