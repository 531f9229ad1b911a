/**
 * `joinflow dev` reloads workflows/ and the project config when files change. A definition that
 * no longer compiles is reported and the running version stays; a changed workflow takes effect
 * for new runs once its running runs have ended (a run never switches plans half-way); until then
 * new runs of it are refused (PutEvents' ThrottlingException), or a steady stream of overlapping
 * runs would keep the old version for ever.
 */
import { readdirSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../adapters/local/engine.ts';
import { CONFIG_FILES, projectSubscriptions } from '../adapters/local/subscription-files.ts';
import type { SubscriptionDispatcher } from '../adapters/local/subscription-dispatcher.ts';
import { compileIsolated, type CompiledFile } from '../adapters/local/compile-isolated.ts';
import { listWorkflowFiles } from '../adapters/local/workflow-files.ts';
import type { TriggerPlan } from '../model/plan.ts';

/** Options of {@link watchProject}. */
export type WatchOptions = {
  root: string;
  engine: Engine;
  dispatcher: SubscriptionDispatcher;
  /** The plans registered at start. */
  plans: readonly TriggerPlan[];
  log: (line: string) => void;
  debounceMs?: number;
};

/**
 * A running watcher. `reload()` runs one reload now (tests, and the watcher's own debounce).
 * `waiting(workflow)`: why a new run of the workflow is not taken now (a new version waits for
 * its running runs to end), else undefined.
 */
export type ProjectWatcher = { reload(): Promise<void>; waiting(workflow: string): string | undefined; close(): void };

/** Starts watching; returns a handle that stops it. */
export function watchProject(options: WatchOptions): ProjectWatcher {
  const { root, engine, dispatcher, log } = options;
  const current = new Map(options.plans.map((p) => [p.workflow, JSON.stringify(p)]));
  const deferred = new Map<string, TriggerPlan>();
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let closed = false;
  /** Stops the compile of the reload under way: a newer one is queued. */
  let compiling: AbortController | undefined;

  const apply = (plan: TriggerPlan, changed: boolean) => {
    engine.register(plan);
    current.set(plan.workflow, JSON.stringify(plan));
    deferred.delete(plan.workflow);
    log(`${changed ? 'reloaded' : 'added'} workflow ${plan.workflow} (${plan.source})`);
  };

  // Deferred plans go in as soon as the runs of the old one have ended.
  const drainDeferred = () => {
    for (const plan of deferred.values()) if (engine.activeRuns(plan.workflow) === 0) apply(plan, true);
    if (deferred.size === 0 && poll) {
      clearInterval(poll);
      poll = undefined;
    }
  };

  // The last version of each file that compiled: a file that breaks keeps its workflow (and its subscriptions).
  const lastGood = new Map(options.plans.map((p) => [path.resolve(root, p.source), p]));
  // Which file holds each workflow name: a file that appears later with the same name does not take it.
  const holder = new Map(options.plans.map((p) => [p.workflow, path.resolve(root, p.source)]));
  const reportedGone = new Set<string>();
  // Files whose last reload failed: their fix is said, even when it restores the running version.
  const failing = new Set<string>();
  let lastSubs: string | undefined;
  try {
    lastSubs = JSON.stringify(projectSubscriptions(options.plans, { root, knownWorkflows: new Set(options.plans.map((p) => p.workflow)) }));
  } catch {
    // the running ones came from elsewhere: the first reload says what it loads
  }

  async function reloadOnce(): Promise<void> {
    // A handler's own file is imported again when it changes, but not the modules it imports: the
    // workers that have them go.
    const workers = engine.refreshHandlers();
    if (workers > 0) log(`files changed: ${workers} handler worker${workers === 1 ? '' : 's'} restart${workers === 1 ? 's' : ''}, importing the handlers and what they import afresh`);
    const plans: TriggerPlan[] = [];
    const kept: TriggerPlan[] = [];
    // In a thread that ends afterwards: what the files import does not stay in the server.
    let compiled: CompiledFile[];
    const stop = (compiling = new AbortController());
    try {
      compiled = await compileIsolated(listWorkflowFiles(root), root, stop.signal);
    } catch (error) {
      // Files changed meanwhile: the next reload compiles them (this one may never have ended,
      // stuck importing a handler whose top level loops until the import check gives up).
      if (!stop.signal.aborted) log(`reload failed, keeping the running workflows: ${(error as Error).message}`);
      return;
    } finally {
      if (compiling === stop) compiling = undefined;
    }
    // Each file on its own: one that does not compile keeps its running version, and the others reload.
    // The files that hold their workflow's name come first, whatever their names' order.
    const holds = (c: CompiledFile) => {
      const workflow = 'plan' in c ? c.plan.workflow : lastGood.get(c.file)?.workflow;
      return workflow !== undefined && holder.get(workflow) === c.file;
    };
    compiled = [...compiled.filter(holds), ...compiled.filter((c) => !holds(c))];
    const byName = new Map<string, string>();
    for (const c of compiled) {
      const other = 'plan' in c ? byName.get(c.plan.workflow) : undefined;
      if ('plan' in c && other !== undefined) {
        // The first file of a name keeps it (as at start, compile refuses the second).
        log(`${path.relative(root, c.file)}: not loaded: workflow name "${c.plan.workflow}" is already used by ${path.relative(root, other)}`);
      } else if ('plan' in c) {
        if (failing.delete(c.file)) {
          const same = current.get(c.plan.workflow) === JSON.stringify(c.plan);
          log(`${path.relative(root, c.file)}: compiles again${same ? ` (workflow ${c.plan.workflow} unchanged)` : ''}`);
        }
        byName.set(c.plan.workflow, c.file);
        plans.push(c.plan);
        lastGood.set(c.file, c.plan);
      } else {
        log(`${path.relative(root, c.file)}: reload failed, keeping the running version: ${c.error}`);
        failing.add(c.file);
        const old = lastGood.get(c.file);
        if (old && !byName.has(old.workflow)) {
          kept.push(old);
          byName.set(old.workflow, c.file);
        }
      }
    }
    holder.clear();
    for (const [workflow, file] of byName) holder.set(workflow, file);
    try {
      const all = [...plans, ...kept];
      const subs = projectSubscriptions(all, { root, knownWorkflows: new Set(all.map((p) => p.workflow)) });
      dispatcher.setSubscriptions(subs);
      const text = JSON.stringify(subs);
      if (text !== lastSubs) log(`subscriptions reloaded: ${subs.length === 0 ? 'none' : subs.map((x) => x.name).join(', ')}`);
      lastSubs = text;
    } catch (error) {
      log(`subscriptions not reloaded, keeping the running ones: ${(error as Error).message}`);
    }
    for (const plan of plans) {
      reportedGone.delete(plan.workflow);
      const text = JSON.stringify(plan);
      if (current.get(plan.workflow) === text) {
        deferred.delete(plan.workflow);
        continue;
      }
      const changed = current.has(plan.workflow);
      const active = engine.activeRuns(plan.workflow);
      if (changed && active > 0) {
        deferred.set(plan.workflow, plan);
        log(`workflow ${plan.workflow} changed: the new version starts after its ${active} running run${active === 1 ? '' : 's'}; new runs of it are refused until then`);
        poll ??= setInterval(drainDeferred, 250);
      } else {
        apply(plan, changed);
      }
    }
    const present = new Set([...plans, ...kept].map((p) => p.workflow));
    for (const w of current.keys()) {
      if (present.has(w) || reportedGone.has(w)) continue;
      reportedGone.add(w);
      log(`workflow ${w} is no longer in workflows/; it stays registered until joinflow dev restarts`);
    }
  }

  const reload = (): Promise<void> => {
    compiling?.abort();
    return (running = running.then(reloadOnce));
  };
  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), options.debounceMs ?? 150);
  };

  const watchers: FSWatcher[] = [];
  // One watcher per directory of workflows/, not one recursive watcher: Node's recursive watch on
  // Linux follows each file's inode, and loses a file an editor saves by renaming a new one over
  // it (as `sed -i` does). A directory's watcher sees its entries whatever replaces them.
  const watched = new Map<string, FSWatcher>();
  const top = path.join(root, 'workflows');
  /** Watches `dir` and the directories under it; returns those it found. */
  const walk = (dir: string, first: boolean, found: Set<string>): void => {
    let w = watched.get(dir);
    if (!w) {
      try {
        w = watch(dir, () => {
          schedule();
          // A directory made, moved in or removed: the watchers follow.
          if (!closed) rewatch();
        });
        w.on('error', () => {});
        watched.set(dir, w);
      } catch (error) {
        if (first) log(`not watching ${path.relative(root, dir) || '.'}/: ${(error as Error).message}`);
        return;
      }
    }
    found.add(dir);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.')) walk(path.join(dir, e.name), first, found);
  };
  const rewatch = (first = false): void => {
    const found = new Set<string>();
    walk(top, first, found);
    for (const [dir, w] of watched) {
      if (found.has(dir)) continue;
      w.close();
      watched.delete(dir);
    }
  };
  rewatch(true);
  // The root is watched (not the config file), so that creating the config file is seen too.
  watchers.push(watch(root, (_event, name) => {
    if (name !== null && CONFIG_FILES.includes(String(name))) schedule();
  }));

  return {
    reload,
    waiting(workflow) {
      if (!deferred.has(workflow)) return undefined;
      const active = engine.activeRuns(workflow);
      return `workflow ${workflow} is being reloaded: its new version starts when its ${active} running run${active === 1 ? '' : 's'} of the old one ${active === 1 ? 'has' : 'have'} ended; send this run again then`;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      for (const w of watchers) w.close();
      for (const w of watched.values()) w.close();
    },
  };
}
