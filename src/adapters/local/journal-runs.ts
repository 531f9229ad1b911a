/** The runs the journal store has in memory (journal-core.ts). */
import type { RunRecord } from '../../ports.ts';
import type { NameTable } from './journal-names.ts';
import type { TaskEntry } from './durable-log.ts';
import type { LiveRun } from './journal-core.ts';
import type { Join } from './journal-joins.ts';

/**
 * The runs in memory, by id. The store's calls for one task name the same run over and over:
 * the last one asked for is kept at hand (the same id string is equal to itself at once).
 */
export class LiveRuns {
  readonly #map = new Map<string, LiveRun>();
  #lastId: string | undefined;
  #last: LiveRun | undefined;

  get(runId: string): LiveRun | undefined {
    if (runId === this.#lastId) return this.#last;
    const run = this.#map.get(runId);
    if (run) {
      this.#lastId = runId;
      this.#last = run;
    }
    return run;
  }

  has(runId: string): boolean {
    return this.get(runId) !== undefined;
  }

  set(runId: string, run: LiveRun): void {
    this.#map.set(runId, run);
    this.#lastId = runId;
    this.#last = run;
  }

  delete(runId: string): void {
    this.#map.delete(runId);
    if (runId === this.#lastId) this.#lastId = this.#last = undefined;
  }

  clear(): void {
    this.#map.clear();
    this.#lastId = this.#last = undefined;
  }

  values(): IterableIterator<LiveRun> {
    return this.#map.values();
  }

  get size(): number {
    return this.#map.size;
  }
}

/**
 * A run's values by name (joins by trigger, results by step). A name of the run's plan is looked
 * up in the plan's vocabulary, which every run of the plan shares, and its value kept in an
 * array at that number: one allocation per run instead of a hash table per run that grows with
 * every step (and is garbage when the run ends). Other names go to a Map.
 */
export class ByName<V> {
  readonly #names: NameTable | undefined;
  readonly #slots: Array<V | undefined>;
  #other: Map<string, V> | undefined;

  /** `names`: the run's name table, when it starts from its plan's vocabulary. */
  constructor(names?: NameTable) {
    this.#names = names?.vocabulary ? names : undefined;
    this.#slots = new Array<V | undefined>(this.#names?.vocabulary?.size ?? 0).fill(undefined);
  }

  get(name: string): V | undefined {
    const n = this.#names?.known(name);
    return n === undefined ? this.#other?.get(name) : this.#slots[n];
  }

  /** Whether the name has a value (values are never undefined). */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, value: V): void {
    const n = this.#names?.known(name);
    if (n !== undefined) this.#slots[n] = value;
    else (this.#other ??= new Map()).set(name, value);
  }

  /** Sets the name's value unless it has one (one lookup); true when it was set. */
  add(name: string, value: V): boolean {
    const n = this.#names?.known(name);
    if (n === undefined) {
      const other = (this.#other ??= new Map());
      if (other.has(name)) return false;
      other.set(name, value);
      return true;
    }
    if (this.#slots[n] !== undefined) return false;
    this.#slots[n] = value;
    return true;
  }
}

/** A run's task entries by task key (a ByName), and in the order they were added. */
export class TaskTable {
  readonly #byKey: ByName<TaskEntry>;
  readonly #list: TaskEntry[] = [];

  constructor(names?: NameTable) {
    this.#byKey = new ByName<TaskEntry>(names);
  }

  get(key: string): TaskEntry | undefined {
    return this.#byKey.get(key);
  }

  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** Adds an entry under a key that has none; false (nothing added) when the key has one. */
  add(key: string, entry: TaskEntry): boolean {
    if (!this.#byKey.add(key, entry)) return false;
    this.#list.push(entry);
    return true;
  }

  /** The entries in the order they were added. */
  values(): readonly TaskEntry[] {
    return this.#list;
  }
}

/** A new run in memory; `names`: its name table, whose plan vocabulary indexes its joins and results. */
export function liveRun(record: RunRecord, names: NameTable | undefined): LiveRun {
  return { record, joins: new ByName<Join>(names), results: new ByName<unknown>(names), tasks: new TaskTable(names) };
}
