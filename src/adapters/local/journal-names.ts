/**
 * The names of the journal's rows (journal-codec.ts): numbered per run, after its plan's
 * vocabulary, with the last name of each length kept at hand.
 */
import type { TriggerPlan } from '../../model/plan.ts';

/**
 * The names every run of a plan uses, numbered from 0 before the run's own: the workflow, the
 * steps, the triggers and the field names of the engine's step events. A run's first row says
 * how many there were (its `base`), so a reader knows whether to start from them. Part of the
 * row format: the same plan must give the same list in every version that writes schema 4 or 5.
 */
export type Vocabulary = { readonly map: ReadonlyMap<string, number>; readonly list: readonly string[] };

const VOCABULARY_WORDS = ['startedAt', 'output', 'error', 'retrying'];
const vocabularies = new WeakMap<TriggerPlan, Vocabulary>();

export function planVocabulary(plan: TriggerPlan): Vocabulary {
  let v = vocabularies.get(plan);
  if (!v) {
    const map = new Map<string, number>();
    const list: string[] = [];
    const add = (s: string): void => {
      if (map.has(s)) return;
      map.set(s, list.length);
      list.push(s);
    };
    add(plan.workflow);
    for (const id in plan.steps) add(id);
    for (const t of plan.triggers) add(t.id);
    for (const w of VOCABULARY_WORDS) add(w);
    v = { map, list };
    vocabularies.set(plan, v);
  }
  return v;
}

/** How many recently numbered names a name table keeps at hand (a power of 2). */
const RECENT = 32;

/**
 * The names of one run, numbered in order of first use (shared by its rows), after those of its
 * plan's vocabulary when it starts from one.
 */
export class NameTable {
  /** The run's own names (the vocabulary's are looked up in it). */
  readonly map = new Map<string, number>();
  readonly list: string[];
  readonly #vocabulary: ReadonlyMap<string, number> | undefined;
  // Empty at first (undefined equals no name; '' might be one).
  readonly #recent: Array<string | undefined> = new Array<string | undefined>(RECENT).fill(undefined);
  readonly #recentNumbers = new Int32Array(RECENT);
  readonly #vocabularySize: number;

  /** The plan's vocabulary (its names are numbered 0 to size - 1), when the run has one. */
  get vocabulary(): ReadonlyMap<string, number> | undefined {
    return this.#vocabulary;
  }

  constructor(vocabulary?: Vocabulary) {
    this.list = vocabulary ? vocabulary.list.slice() : [];
    this.#vocabulary = vocabulary?.map;
    this.#vocabularySize = vocabulary?.list.length ?? 0;
  }

  /** A name's number, numbering it when new. */
  number(s: string): number {
    // A task's facts name its step, its workflow and its successors' triggers several times over:
    // the last name of each length is kept, so that most names need no lookup in the (large, for
    // a large plan) maps.
    const slot = s.length & (RECENT - 1);
    if (this.#recent[slot] === s) return this.#recentNumbers[slot]!;
    let n = this.#vocabulary?.get(s) ?? this.map.get(s);
    if (n === undefined) {
      n = this.list.length;
      this.map.set(s, n);
      this.list.push(s);
    }
    this.#recent[slot] = s;
    this.#recentNumbers[slot] = n;
    return n;
  }

  /**
   * A name's number in the plan's vocabulary, or undefined for a name outside it: a lookup only,
   * nothing is numbered. The run's joins, results and tasks are kept by these numbers
   * (journal-runs.ts), so they share the recent names with the facts.
   */
  known(s: string): number | undefined {
    const slot = s.length & (RECENT - 1);
    if (this.#recent[slot] === s) {
      const n = this.#recentNumbers[slot]!;
      return n < this.#vocabularySize ? n : undefined;
    }
    const n = this.#vocabulary?.get(s);
    if (n !== undefined) {
      this.#recent[slot] = s;
      this.#recentNumbers[slot] = n;
    }
    return n;
  }

  /** Appends the names a row defines, skipping those already known (a row read twice). */
  define(base: number, names: readonly string[]): void {
    if (base > this.list.length) throw new Error(`journal: a row defines names from ${base} on, but only ${this.list.length} are known (rows missing or out of order)`);
    for (let k = this.list.length - base; k < names.length; k++) {
      this.map.set(names[k]!, this.list.length);
      this.list.push(names[k]!);
    }
  }
}
