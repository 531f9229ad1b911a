/**
 * The waiting tasks of one executor kind: highest priority first, first come first served among
 * equals (a binary heap; a FIFO when every priority is the same).
 */
import type { Task } from '../../ports.ts';
import { BinaryHeap } from './binary-heap.ts';

type Entry = { task: Task; priority: number; seq: number };

/** A priority queue of tasks. */
export class TaskQueue {
  readonly #heap = new BinaryHeap<Entry>(before);
  #seq = 0;

  get size(): number {
    return this.#heap.size;
  }

  push(task: Task, priority: number): void {
    this.#heap.push({ task, priority, seq: this.#seq++ });
  }

  pop(): Task | undefined {
    return this.#heap.pop()?.task;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
}
