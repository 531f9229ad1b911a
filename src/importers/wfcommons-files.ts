/**
 * A WfCommons trace's file lists as dependencies. When the tasks' files are staged (a real
 * executor, files kept), a task that reads a file another task writes must run after it: the file
 * is in the run's data directory only once its writer has ended. Traces usually say so in their
 * parents and children too, but not always (they "do not always fill both sides"), and then the
 * run would depend on timing. The missing orderings become edges, and the importer says how many.
 */
import type { Problem } from '../model/errors.ts';
import type { TraceTask } from './wfcommons-assign.ts';

/** The edges the file lists add (reader → its writer), and warnings about files written twice. */
export type FileEdges = { added: Array<{ reader: string; writer: string; file: string }>; warnings: Problem[] };

/**
 * Adds to `parentsOf` an edge writer → reader for each file a staged task reads and another
 * staged task writes, unless the writer is already an ancestor of the reader.
 */
export function addFileEdges(tasks: readonly TraceTask[], parentsOf: Map<string, Set<string>>, staged: (id: string) => boolean): FileEdges {
  const writers = new Map<string, string[]>();
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const t of tasks) {
    if (!staged(t.id)) continue;
    for (const f of t.outputs) {
      const list = writers.get(f);
      if (list) list.push(t.id);
      else writers.set(f, [t.id]);
    }
  }
  const warnings: Problem[] = [];
  const twice = [...writers].filter(([, w]) => w.length > 1);
  if (twice.length > 0) {
    const [file, w] = twice[0]!;
    const more = twice.length > 1 ? ` (and ${twice.length - 1} more file${twice.length === 2 ? '' : 's'})` : '';
    warnings.push({
      path: byId.get(w[1]!)!.path,
      message: `file "${file}" is written by ${w.length} tasks (${w.slice(0, 3).join(', ')}${w.length > 3 ? ', ...' : ''})${more}: they share the run's data directory, so the last to end leaves its copy`,
    });
  }
  const added: FileEdges['added'] = [];
  for (const t of tasks) {
    if (!staged(t.id)) continue;
    for (const f of t.inputs) {
      for (const w of writers.get(f) ?? []) {
        if (w === t.id || isAncestor(w, t.id, parentsOf)) continue;
        parentsOf.get(t.id)!.add(w);
        added.push({ reader: t.id, writer: w, file: f });
      }
    }
  }
  if (added.length > 0) {
    const first = added[0]!;
    const more = added.length > 1 ? ` (and ${added.length - 1} more)` : '';
    warnings.push({
      path: byId.get(first.reader)!.path,
      message: `reads "${first.file}", which ${first.writer} writes, but the trace does not order them: ${first.reader} now needs ${first.writer}${more}`,
    });
  }
  return { added, warnings };
}

/** Whether `ancestor` is reached from `id` by following parents. */
function isAncestor(ancestor: string, id: string, parentsOf: Map<string, Set<string>>): boolean {
  const seen = new Set<string>([id]);
  const stack = [id];
  while (stack.length > 0) {
    for (const p of parentsOf.get(stack.pop()!) ?? []) {
      if (p === ancestor) return true;
      if (!seen.has(p)) {
        seen.add(p);
        stack.push(p);
      }
    }
  }
  return false;
}
