/**
 * An ASL state machine -> a joinflow workflow. Each state becomes a step that runs it (a function
 * step of one shared handler, `joinflow/asl`, told which state by `params`); a step's output is an
 * envelope `{next, enter, end, output}` naming the step that comes next. Transitions become needs,
 * and a step after a Choice gets a `when` on the envelope. A Parallel becomes a head step, its
 * branches' steps and a join step; a Map a head, a forEach step (each item runs the item
 * processor) and a join. A loop (a cycle of states) runs in one step, as does a Parallel or Map
 * with Retry or Catch. A Task's Retry becomes the step's retry and its Catch a catch step.
 */
import type { StepInput, WorkflowInput } from '../../model/workflow.ts';
import { successors, type Retrier, type Scope, type State } from './machine.ts';

/** Where a step's ASL input comes from: the run's input, a head step's output, or a step that names it next. */
export type From = { step: string; mode: 'run' | 'head' | 'next' };

/** What the shared handler is told about a step. `v` is the protocol version. */
export type StepParams =
  | { v: 1; kind: 'unit'; self: string; name: string; states: Record<string, State>; within: string[]; exits: Record<string, string>; from: From[]; startAt: string; delayed?: true }
  | { v: 1; kind: 'task'; self: string; name: string; state: State; exits: Record<string, string>; from: From[] }
  | { v: 1; kind: 'catch'; self: string; name: string; state: State; exits: Record<string, string>; from: From[] }
  | { v: 1; kind: 'parallel-head' | 'map-head'; self: string; name: string; state: State; from: From[] }
  | { v: 1; kind: 'parallel-join'; name: string; state: State; head: string; branches: string[][]; exits: Record<string, string> }
  | { v: 1; kind: 'map-item'; name: string; processor: Scope }
  | { v: 1; kind: 'map-join'; name: string; state: State; head: string; items: string; exits: Record<string, string> }
  | { v: 1; kind: 'end'; ends: string[] };

export type CompiledMachine = { workflow: WorkflowInput; stats: { states: number; steps: number } };

type Unit = {
  names: string[];
  kind: 'unit' | 'task' | 'parallel' | 'map';
  entry: string; // the step that receives the unit's input
  outs: { step: string; targets: (string | null)[] }[]; // steps that end the unit, and where each may go (null: the end of the scope)
};

/** Compiles a checked machine (machine.ts) into a workflow whose steps run `module#handler`. */
export function compileMachine(machine: Scope & { Comment?: string }, name: string, module: string): CompiledMachine {
  const steps: Record<string, StepInput> = {};
  const used = new Set<string>();
  const uid = (base: string): string => {
    let id = base.replace(/[^A-Za-z0-9_.:-]/g, '_').replace(/^[.:-]/, '_').slice(0, 190) || '_';
    for (let n = 2; used.has(id); n++) id = `${id.replace(/-\d+$/, '')}-${n}`;
    used.add(id);
    return id;
  };
  const fn = (params: StepParams) => ({ type: 'function' as const, module, export: 'handler', params });
  let states = 0;

  /** Compiles one scope; returns the steps that may end it (their envelope says `end`). */
  const scopeSteps = (scope: Scope, prefix: string, entry: From): string[] => {
    states += Object.keys(scope.States).length;
    const units = unitsOf(scope);
    const unitOf = new Map<string, Unit>();
    for (const u of units) {
      for (const n of u.names) unitOf.set(n, u);
      u.entry = uid(`${prefix}${u.names[0]!}`);
    }
    const exitsOf = (u: Unit) => {
      const out: Record<string, string> = {};
      for (const o of u.outs) for (const t of o.targets) if (t !== null) out[t] = unitOf.get(t)!.entry;
      return out;
    };
    // The steps that end each unit, by the states they may go to.
    for (const u of units) {
      const st = scope.States[u.names[0]!]!;
      if (u.kind === 'unit') {
        const targets = new Set<string | null>();
        for (const n of u.names) {
          const s = scope.States[n]!;
          for (const t of successors(s)) if (!u.names.includes(t)) targets.add(t);
          if (canEnd(s)) targets.add(null);
        }
        u.outs = [{ step: u.entry, targets: [...targets] }];
      } else if (u.kind === 'task') {
        u.outs = [{ step: u.entry, targets: [canEnd(st) ? null : (st['Next'] as string)] }];
        if (Array.isArray(st['Catch'])) u.outs.push({ step: uid(`${u.entry}.catch`), targets: [...new Set((st['Catch'] as { Next: string }[]).map((c) => c.Next))] });
      } else {
        u.outs = [{ step: uid(`${u.entry}.join`), targets: [canEnd(st) ? null : (st['Next'] as string)] }];
      }
    }
    const ends: string[] = [];
    for (const u of units) {
      const from: From[] = u.names.includes(scope.StartAt) ? [entry] : [];
      const multi: string[] = [];
      for (const v of units) for (const o of v.outs) {
        if (!o.targets.some((t) => t !== null && u.names.includes(t))) continue;
        from.push({ step: o.step, mode: 'next' });
        if (o.targets.length > 1) multi.push(o.step);
      }
      for (const o of u.outs) if (o.targets.includes(null)) ends.push(o.step);
      const needs = from.filter((f) => f.mode !== 'run').map((f) => f.step);
      const next = from.filter((f) => f.mode === 'next').map((f) => f.step);
      const when = multi.length === 0 ? undefined
        : next.length === 1 ? { results: { [next[0]!]: { next: [u.entry] } } }
        : { $or: next.map((p) => ({ results: { [p]: { next: [u.entry] } } })) };
      const base = { ...(needs.length ? { needs } : {}), ...(when ? { when } : {}) };
      const name = u.names[0]!;
      const st = scope.States[name]!;
      const exits = exitsOf(u);
      if (u.kind === 'unit') {
        const own: Record<string, State> = {};
        for (const n of u.names) own[n] = scope.States[n]!;
        // A lone Wait of fixed Seconds waits on the engine's timer (delayMs), not in its handler.
        const delayMs = u.names.length === 1 && st.Type === 'Wait' && typeof st['Seconds'] === 'number' ? st['Seconds'] * 1000 : undefined;
        const loop = u.names.length > 1 || successors(st).includes(name);
        // A Task's TimeoutSeconds bounds its attempts and waits (backstop); nothing bounds a loop's passes.
        const bound = loop ? undefined : backstop(st, true);
        const timeoutMs = bound ?? (loop || (delayMs === undefined && sleeps(own)) ? LAMBDA_MAX_MS : undefined);
        steps[u.entry] = {
          description: describe(u.names), ...base, ...(timeoutMs ? { timeoutMs } : {}), ...(delayMs ? { delayMs } : {}),
          executor: fn({ v: 1, kind: 'unit', self: u.entry, name, states: own, within: u.names, exits, from, startAt: scope.StartAt, ...(delayMs ? { delayed: true } : {}) }),
        };
      } else if (u.kind === 'task') {
        const retry = retryOf(st['Retry'] as Retrier[] | undefined);
        const timeoutMs = backstop(st, false);
        const catcher = u.outs[1]?.step;
        steps[u.entry] = {
          description: `Task state "${name}"`, ...base, executor: fn({ v: 1, kind: 'task', self: u.entry, name, state: st, exits, from }),
          ...(retry ? { retry } : {}), ...(catcher ? { catch: catcher } : {}), ...(timeoutMs ? { timeoutMs } : {}),
        };
        if (catcher) steps[catcher] = { description: `the Catch of "${name}"`, executor: fn({ v: 1, kind: 'catch', self: u.entry, name, state: st, exits, from }) };
      } else if (u.kind === 'parallel') {
        steps[u.entry] = { description: `Parallel state "${name}": its input`, ...base, executor: fn({ v: 1, kind: 'parallel-head', self: u.entry, name, state: pick(st, ['InputPath', 'Parameters', 'Type']), from }) };
        const branches = (st['Branches'] as Scope[]).map((b, i) => scopeSteps(b, `${u.entry}.${i}.`, { step: u.entry, mode: 'head' }));
        const join = u.outs[0]!.step;
        steps[join] = {
          description: `Parallel state "${name}": its branches' outputs`, needs: [u.entry, ...branches.flat()],
          executor: fn({ v: 1, kind: 'parallel-join', name, state: pick(st, ['ResultSelector', 'ResultPath', 'OutputPath', 'Next', 'End', 'Type']), head: u.entry, branches, exits }),
        };
      } else {
        const items = uid(`${u.entry}.items`);
        const join = u.outs[0]!.step;
        steps[u.entry] = { description: `Map state "${name}": its items`, ...base, executor: fn({ v: 1, kind: 'map-head', self: u.entry, name, state: pick(st, ['InputPath', 'ItemsPath', 'ItemSelector', 'Parameters', 'Type']), from }) };
        const processor = (st['ItemProcessor'] ?? st['Iterator']) as Scope;
        states += countStates(processor);
        const itemTimeoutMs = sleeps(processor.States) ? LAMBDA_MAX_MS : undefined;
        // MaxConcurrency 0 (or none) is no limit, as in Step Functions.
        const lanes = st['MaxConcurrency'] as number | undefined;
        steps[items] = { description: `Map state "${name}": one item`, needs: [u.entry], forEach: { step: u.entry, path: 'items', ...(lanes ? { maxConcurrency: lanes } : {}) }, ...(itemTimeoutMs ? { timeoutMs: itemTimeoutMs } : {}), executor: fn({ v: 1, kind: 'map-item', name, processor: { StartAt: processor.StartAt, States: processor.States } }) };
        steps[join] = {
          description: `Map state "${name}": its items' outputs`, needs: [u.entry, items],
          executor: fn({ v: 1, kind: 'map-join', name, state: pick(st, ['ResultSelector', 'ResultPath', 'OutputPath', 'Next', 'End', 'Type']), head: u.entry, items, exits }),
        };
      }
    }
    return ends;
  };

  const ends = scopeSteps(machine, '', { step: '', mode: 'run' });
  const end = uid('end');
  steps[end] = { description: 'the output of the state machine', needs: ends, executor: fn({ v: 1, kind: 'end', ends }) };
  const workflow: WorkflowInput = { name, ...(machine.Comment ? { description: machine.Comment } : {}), steps, output: end };
  return { workflow, stats: { states, steps: Object.keys(steps).length } };
}

/** Groups a scope's states into the units that become steps (see the file comment). */
function unitsOf(scope: Scope): Unit[] {
  const names = Object.keys(scope.States);
  const units: Unit[] = [];
  for (const scc of stronglyConnected(names, (n) => successors(scope.States[n]!).filter((t) => Object.hasOwn(scope.States, t)))) {
    const st = scope.States[scc[0]!]!;
    const loop = scc.length > 1 || successors(st).includes(scc[0]!);
    const handled = st['Retry'] !== undefined || st['Catch'] !== undefined;
    let kind: Unit['kind'] = 'unit';
    if (!loop && (st.Type === 'Parallel' || st.Type === 'Map') && !handled) kind = st.Type === 'Parallel' ? 'parallel' : 'map';
    else if (!loop && st.Type === 'Task' && handled && (st['Retry'] === undefined || retryOf(st['Retry'] as Retrier[]) !== undefined)) kind = 'task';
    units.push({ names: scc.sort((a, b) => names.indexOf(a) - names.indexOf(b)), kind, entry: '', outs: [] });
  }
  return units.sort((a, b) => names.indexOf(a.names[0]!) - names.indexOf(b.names[0]!));
}

/**
 * The step's retry policy, when the Task has one retrier. Each retrier counts its own retries
 * (and backs off from its own first interval), which one policy for the step cannot do: a Task
 * with several retries in its handler.
 */
export function retryOf(retriers: Retrier[] | undefined): StepInput['retry'] | undefined {
  if (retriers === undefined || retriers.length !== 1) return undefined;
  const r = retriers[0]!;
  return {
    maxAttempts: 1 + (r.MaxAttempts ?? 3),
    backoffMs: (r.IntervalSeconds ?? 1) * 1000,
    factor: r.BackoffRate ?? 2,
    maxDelayMs: r.MaxDelaySeconds === undefined ? YEAR_MS : r.MaxDelaySeconds * 1000,
  };
}

/**
 * The step's time-out, above what the state itself may take: a Task's TimeoutSeconds, which its
 * handler enforces as States.Timeout on each attempt. When the handler retries (`inHandler`),
 * every attempt and the waits between them. It also sizes the step's Lambda function.
 */
function backstop(st: State, inHandler: boolean): number | undefined {
  if (st.Type !== 'Task' || typeof st['TimeoutSeconds'] !== 'number') return undefined;
  let attempts = 1;
  let waits = 0;
  for (const r of inHandler ? ((st['Retry'] as Retrier[] | undefined) ?? []) : []) {
    const max = r.MaxAttempts ?? 3;
    attempts += max;
    for (let k = 0; k < max; k++) waits += Math.min((r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** k, r.MaxDelaySeconds ?? Infinity);
  }
  // A year at most: a step's time-out is a timer's (and backoff without a cap grows past any).
  return Math.min(Math.ceil((attempts * st['TimeoutSeconds'] + waits + 5) * 1000), YEAR_MS);
}

const YEAR_MS = 31_536_000_000;

/**
 * Lambda's longest time-out. A step that may sleep in its handler (a loop, a Wait known only at
 * run time, retries in the handler, an item processor with Waits or retries) gets it unless a
 * Task's TimeoutSeconds bounds it:
 * without a time-out its function would get joinflow's default of 60 s on AWS, and a polling loop
 * would be stopped there. The embedded engine applies it too, so a run stops where it would on AWS.
 */
export const LAMBDA_MAX_MS = 900_000;

/** Whether running these states may sleep in a handler: a Wait, or a retrier's backoff, at any depth. */
function sleeps(states: Record<string, State>): boolean {
  return Object.values(states).some((st) => {
    if (st.Type === 'Wait' || (Array.isArray(st['Retry']) && st['Retry'].length > 0)) return true;
    const inner = [...((st['Branches'] as Scope[] | undefined) ?? []), ...[(st['ItemProcessor'] ?? st['Iterator']) as Scope | undefined].filter((x) => x !== undefined)];
    return inner.some((scope) => sleeps(scope.States));
  });
}

const canEnd = (st: State) => st['End'] === true || st.Type === 'Succeed';
const pick = (st: State, keys: string[]): State => Object.fromEntries(keys.filter((k) => st[k] !== undefined).map((k) => [k, st[k]])) as State;
const describe = (names: string[]) => (names.length === 1 ? `state "${names[0]}"` : `the loop of states ${names.map((n) => `"${n}"`).join(', ')}`);
const countStates = (s: Scope): number => Object.values(s.States).reduce((n, st) => n + 1
  + (Array.isArray(st['Branches']) ? (st['Branches'] as Scope[]).reduce((m, b) => m + countStates(b), 0) : 0)
  + (st['ItemProcessor'] ?? st['Iterator'] ? countStates((st['ItemProcessor'] ?? st['Iterator']) as Scope) : 0), 0);

/** Tarjan's strongly connected components, iteratively (a machine may have thousands of states). */
function stronglyConnected(nodes: string[], next: (n: string) => string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const on = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { n: string; edges: string[]; i: number }[] = [];
    const open = (n: string) => {
      index.set(n, counter);
      low.set(n, counter++);
      stack.push(n);
      on.add(n);
      work.push({ n, edges: next(n), i: 0 });
    };
    open(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      if (top.i < top.edges.length) {
        const m = top.edges[top.i++]!;
        if (!index.has(m)) open(m);
        else if (on.has(m)) low.set(top.n, Math.min(low.get(top.n)!, index.get(m)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]!;
        low.set(parent.n, Math.min(low.get(parent.n)!, low.get(top.n)!));
      }
      if (low.get(top.n) === index.get(top.n)) {
        const scc: string[] = [];
        let m: string;
        do {
          m = stack.pop()!;
          on.delete(m);
          scc.push(m);
        } while (m !== top.n);
        out.push(scc);
      }
    }
  }
  return out;
}
