import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findWorkflowFile, listWorkflowFiles } from '../../src/adapters/local/workflow-files.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs('jf-wffiles-');
const def = (name: string) => `name: ${name}\nsteps:\n  a: { executor: { type: simulate, durationMs: 0 } }\n`;

describe('listWorkflowFiles', () => {
  it('lists a symbolically linked workflow file or directory, as run finds it by name', () => {
    const root = tmp();
    const shared = tmp();
    mkdirSync(path.join(root, 'workflows'));
    mkdirSync(path.join(shared, 'dir'));
    writeFileSync(path.join(shared, 'linked.yaml'), def('linked'));
    writeFileSync(path.join(shared, 'dir', 'workflow.yaml'), def('dir'));
    writeFileSync(path.join(root, 'workflows', 'plain.yaml'), def('plain'));
    symlinkSync(path.join(shared, 'linked.yaml'), path.join(root, 'workflows', 'linked.yaml'));
    symlinkSync(path.join(shared, 'dir'), path.join(root, 'workflows', 'dir'));
    // A dangling link is no workflow.
    symlinkSync(path.join(shared, 'gone.yaml'), path.join(root, 'workflows', 'gone.yaml'));
    const listed = listWorkflowFiles(root).map((f) => path.relative(root, f));
    expect(listed).toEqual(['workflows/dir/workflow.yaml', 'workflows/linked.yaml', 'workflows/plain.yaml']);
    expect(path.relative(root, findWorkflowFile('linked', root))).toBe('workflows/linked.yaml');
    // A typo is told the linked workflow's name too.
    expect(() => findWorkflowFile('linkd', root)).toThrow('(did you mean "linked"?)');
  });

  it('leaves out a symbolic link loop (compile, a typo\'s suggestion), and says so of one named', () => {
    const root = tmp();
    mkdirSync(path.join(root, 'workflows'));
    writeFileSync(path.join(root, 'workflows', 'plain.yaml'), def('plain'));
    symlinkSync('loop.yaml', path.join(root, 'workflows', 'loop.yaml'));
    symlinkSync('other', path.join(root, 'workflows', 'one'));
    symlinkSync('one', path.join(root, 'workflows', 'other'));
    expect(listWorkflowFiles(root).map((f) => path.relative(root, f))).toEqual(['workflows/plain.yaml']);
    expect(() => findWorkflowFile('plan', root)).toThrow('(did you mean "plain"?)');
    expect(() => findWorkflowFile('loop', root)).toThrow('is a symbolic link in a loop (it never reaches a file)');
  });
});
