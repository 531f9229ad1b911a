/** `--input JSON|@file`: JSON text, a JSON file, or a YAML file (CWL job files are YAML). */
import { truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInput } from '../../src/cli/input.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-input-');

describe('parseInput', () => {
  it('reads JSON text, a JSON file and a YAML file (.yaml, .yml), and nothing as null', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'job.json'), '{"n": 3}');
    writeFileSync(path.join(dir, 'job.yml'), 'reads:\n  class: File\n  path: data/r1.fq\nthreads: 4\n');
    writeFileSync(path.join(dir, 'empty.yaml'), '');
    expect(parseInput('{"n": 3}')).toEqual({ n: 3 });
    expect(parseInput(`@${path.join(dir, 'job.json')}`)).toEqual({ n: 3 });
    expect(parseInput(`@${path.join(dir, 'job.yml')}`)).toEqual({ reads: { class: 'File', path: 'data/r1.fq' }, threads: 4 });
    expect(parseInput(`@${path.join(dir, 'empty.yaml')}`)).toBe(null);
    expect(parseInput(undefined)).toBe(null);
  });

  it('refuses a file larger than Node can read as text, saying how large and what to do (not Node\'s ERR_STRING_TOO_LONG)', () => {
    const big = path.join(tmp(), 'big.json');
    writeFileSync(big, '');
    truncateSync(big, 600 * 1_048_576); // sparse: no disk space taken
    expect(() => parseInput(`@${big}`)).toThrow(/: the file is 600 MB, more than a run input can be \(Node reads at most 512 MB of text; every step receives the input\): pass the paths of large data instead/);
  });

  it('refuses a YAML file that is not valid YAML or gives a key twice, naming the file', () => {
    const dir = tmp();
    const twice = path.join(dir, 'twice.yaml');
    writeFileSync(twice, 'a: 1\na: 2\n');
    expect(() => parseInput(`@${twice}`)).toThrow(new RegExp(`^--input @${twice.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid YAML: .*Map keys must be unique`, 's'));
    const bad = path.join(dir, 'bad.yml');
    writeFileSync(bad, 'a: [1, 2\n');
    expect(() => parseInput(`@${bad}`)).toThrow(/is not valid YAML/);
  });
});
