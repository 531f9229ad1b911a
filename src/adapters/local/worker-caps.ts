/**
 * The function pool's idle workers and waiting tasks, kept apart by memory cap (function-executor.ts):
 * a worker's heap limit is fixed when its thread starts (Node's `resourceLimits`), so a task with
 * a cap (Task.memoryMb) runs only on a worker started with that cap, and one without on a worker
 * without. Most pools see no cap at all: one key, `undefined`, and the cost of an array's push,
 * pop and shift, as before caps.
 */

/** A worker's cap, or a task's: MB of heap (its old generation), or none. */
export type Cap = number | undefined;

/** Idle workers by cap, most recently idle last. */
export class IdleWorkers<S extends { memoryMb: Cap }> {
  readonly #byCap = new Map<Cap, S[]>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(cap: Cap): boolean {
    return (this.#byCap.get(cap)?.length ?? 0) > 0;
  }

  /** The most recently idle worker of `cap` (its caches are the warmest). */
  take(cap: Cap): S | undefined {
    const slot = this.#byCap.get(cap)?.pop();
    if (slot !== undefined) this.#size--;
    return slot;
  }

  put(slot: S): void {
    let list = this.#byCap.get(slot.memoryMb);
    if (list === undefined) this.#byCap.set(slot.memoryMb, (list = []));
    list.push(slot);
    this.#size++;
  }

  remove(slot: S): void {
    const list = this.#byCap.get(slot.memoryMb);
    const at = list?.indexOf(slot) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    this.#size--;
  }

  /** The worker idle longest among those of another cap than `cap`: it makes room for a worker of `cap`. */
  takeOther(cap: Cap): S | undefined {
    for (const [key, list] of this.#byCap) {
      if (key === cap || list.length === 0) continue;
      this.#size--;
      return list.shift();
    }
    return undefined;
  }

  drain(): S[] {
    const all = [...this.#byCap.values()].flat();
    this.#byCap.clear();
    this.#size = 0;
    return all;
  }
}

/** Tasks waiting for a worker, first come first served within each cap. */
export class WaitingJobs<J extends { memoryMb: Cap }> {
  #jobs: J[] = [];
  /** How many of them have a cap: none, and every question has the answer of a plain queue. */
  #capped = 0;

  get size(): number {
    return this.#jobs.length;
  }

  push(job: J): void {
    this.#jobs.push(job);
    if (job.memoryMb !== undefined) this.#capped++;
  }

  /** The task that has waited longest. */
  first(): J | undefined {
    return this.#jobs[0];
  }

  /** The first task of `cap`. */
  take(cap: Cap): J | undefined {
    const at = this.#capped === 0 ? (cap === undefined && this.#jobs.length > 0 ? 0 : -1) : this.#jobs.findIndex((j) => j.memoryMb === cap);
    if (at < 0) return undefined;
    const job = at === 0 ? this.#jobs.shift()! : this.#jobs.splice(at, 1)[0]!;
    if (job.memoryMb !== undefined) this.#capped--;
    return job;
  }

  remove(job: J): boolean {
    const at = this.#jobs.indexOf(job);
    if (at < 0) return false;
    this.#jobs.splice(at, 1);
    if (job.memoryMb !== undefined) this.#capped--;
    return true;
  }

  /** How many tasks of `cap` wait. */
  count(cap: Cap): number {
    if (this.#capped === 0) return cap === undefined ? this.#jobs.length : 0;
    let n = 0;
    for (const j of this.#jobs) if (j.memoryMb === cap) n++;
    return n;
  }

  /**
   * The cap of the next worker to start: that of the first waiting task whose cap has fewer
   * workers starting (`starting(cap)`) than tasks waiting, else the first task's. Undefined when
   * none waits.
   */
  nextCap(starting: (cap: Cap) => number): Cap {
    if (this.#capped === 0) return undefined;
    const waiting = new Map<Cap, number>();
    for (const j of this.#jobs) waiting.set(j.memoryMb, (waiting.get(j.memoryMb) ?? 0) + 1);
    for (const [cap, n] of waiting) if (starting(cap) < n) return cap;
    return this.#jobs[0]?.memoryMb;
  }

  drain(): J[] {
    const all = this.#jobs;
    this.#jobs = [];
    this.#capped = 0;
    return all;
  }
}
