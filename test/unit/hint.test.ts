import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { quoted, shownDir, stateCommand } from '../../src/cli/hint.ts';
import { runIdCommand } from '../../src/model/events.ts';

describe('stateCommand', () => {
  it('leaves --state out for the default state dir, however it is written', () => {
    expect(stateCommand('.joinflow', 'resume', 'r1')).toBe('joinflow resume r1');
    expect(stateCommand(path.resolve('.joinflow'), 'resume')).toBe('joinflow resume');
    expect(stateCommand('./.joinflow/', 'cancel', 'r1')).toBe('joinflow cancel r1');
  });

  it('names any other state dir: relative under the current directory, absolute elsewhere', () => {
    expect(stateCommand(path.resolve('runs/a'), 'resume', 'r1')).toBe('joinflow resume r1 --state runs/a');
    expect(stateCommand('/var/tmp/jf', 'resume')).toBe('joinflow resume --state /var/tmp/jf');
    const parent = path.dirname(process.cwd());
    expect(stateCommand(path.join(parent, 'x'), 'list')).toBe(`joinflow list --state ${path.join(parent, 'x')}`);
  });

  it('names a dir under the current directory that starts with a dash so that it is not read as an option', () => {
    expect(stateCommand(path.resolve('-runs'), 'resume')).toBe(`joinflow resume --state .${path.sep}-runs`);
    expect(stateCommand(path.resolve('-runs/a b'), 'list')).toBe(`joinflow list --state ".${path.sep}-runs/a b"`);
  });

  it('runIdCommand (the adapters\' messages: a row too large, a Batch job left) puts a run id that starts with a dash after --', () => {
    expect(runIdCommand('cancel', 'r1', ' --stage <stage>')).toBe('joinflow cancel r1 --stage <stage>');
    expect(runIdCommand('cancel', '-r1', ' --stage <stage>')).toBe('joinflow cancel --stage <stage> -- -r1');
    expect(runIdCommand('cancel', '-r1')).toBe('joinflow cancel -- -r1');
  });

  it('puts a run id that starts with a dash last, after --, so that it is not read as an option', () => {
    expect(stateCommand('.joinflow', 'resume', '-x')).toBe('joinflow resume -- -x');
    expect(stateCommand('/var/tmp/jf', 'logs', '-run-1')).toBe('joinflow logs --state /var/tmp/jf -- -run-1');
    expect(stateCommand('.joinflow', 'resume', '<runId>', '--trace', 'FILE')).toBe('joinflow resume <runId> --trace FILE');
  });

  it('quotes what a shell would split or expand, in double quotes (messages put the command in single ones), but for placeholders', () => {
    expect(stateCommand("/tmp/my runs/it's", 'resume', '<runId>', '--trace', 'FILE')).toBe(`joinflow resume <runId> --trace FILE --state "/tmp/my runs/it's"`);
    expect(stateCommand('.joinflow', 'logs', 'run $1')).toBe('joinflow logs "run \\$1"');
  });
});

describe('quoted', () => {
  it('gives words a shell reads back as they were', () => {
    const words = ['plain', 'my runs', "it's", 'a"b', 'cost $HOME', 'back`tick`', 'slash\\n', 'bang!', 'tab\there', '*.json', '-x'];
    const script = words.map((w) => `printf '%s\\0' ${quoted(w)}`).join('; ');
    // bash (and zsh) read the ANSI-C form of control characters; POSIX sh (dash) does not.
    expect(execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\0').slice(0, -1)).toEqual(words);
    expect(quoted('bang!')).toBe("'bang!'");
  });
});

describe('shownDir', () => {
  it('is relative under the current directory and absolute elsewhere', () => {
    expect(shownDir(path.resolve('a/b'))).toBe(path.join('a', 'b'));
    expect(shownDir(process.cwd())).toBe(process.cwd());
    expect(shownDir('/')).toBe('/');
  });
});
