/**
 * A binary heap: the element that comes first by `before` on top. Used by the queues of waiting
 * tasks (task-queue.ts) and of subscription deliveries (delivery-queue.ts).
 */
export class BinaryHeap<T> {
  /** The elements in heap order (the first on top, index 0). */
  readonly items: T[] = [];
  readonly #before: (a: T, b: T) => boolean;

  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  get size(): number {
    return this.items.length;
  }

  /** The first element, not taken; undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  push(x: T): void {
    const heap = this.items;
    heap.push(x);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** Takes the first element; undefined when empty. */
  pop(): T | undefined {
    const heap = this.items;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < heap.length && this.#before(heap[l]!, heap[best]!)) best = l;
        if (r < heap.length && this.#before(heap[r]!, heap[best]!)) best = r;
        if (best === i) break;
        [heap[i], heap[best]] = [heap[best]!, heap[i]!];
        i = best;
      }
    }
    return top;
  }
}
