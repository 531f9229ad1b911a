import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/adapters/local/group-commit.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function counted(windowMs: number): { group: GroupCommit; commits: () => number } {
  let n = 0;
  const group = new GroupCommit(async () => void n++, windowMs, (error) => {
    throw error;
  });
  return { group, commits: () => n };
}

/** One batch: applying, then applied (with or without effects outside the process). */
async function batch(group: GroupCommit, external: boolean): Promise<void> {
  group.applying();
  await group.applied(external);
}

describe('GroupCommit', () => {
  it('lets local batches share one commit within the window', async () => {
    const { group, commits } = counted(15);
    for (let i = 0; i < 5; i++) await batch(group, false);
    expect(commits()).toBe(0);
    await sleep(40);
    expect(commits()).toBe(1);
  });

  it('commits at once for a batch with external effects, taking the waiting ones with it', async () => {
    const { group, commits } = counted(1000);
    await batch(group, false);
    await batch(group, true);
    expect(commits()).toBe(1);
    // The window's timer went with that commit.
    await sleep(20);
    expect(commits()).toBe(1);
  });

  it('never commits in the middle of a batch: a commit due meanwhile is made when the batch is applied', async () => {
    const { group, commits } = counted(5);
    await batch(group, false);
    group.applying();
    await sleep(30);
    expect(commits()).toBe(0);
    await group.applied(false);
    expect(commits()).toBe(1);
  });

  it('commits every batch with a window of 0', async () => {
    const { group, commits } = counted(0);
    for (let i = 0; i < 3; i++) await batch(group, false);
    expect(commits()).toBe(3);
  });
});
