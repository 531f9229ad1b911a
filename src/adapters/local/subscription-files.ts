/**
 * Where subscriptions are declared: `joinflow.config.yaml` (or .yml/.json) at the project root,
 * and `subscriptions:` in workflow files (compiled into their plans, scoped to their events).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { yaml } from './yaml-lazy.ts';
import { givenDiscriminator } from '../../compiler/validate.ts';
import { issueMessage, JoinflowError, pathKey, type Problem } from '../../model/errors.ts';
import type { TriggerPlan } from '../../model/plan.ts';
import { ProjectConfigSchema, type Subscription } from '../../model/subscriptions.ts';
import { checkSubscriptions } from '../../runtime/subscriptions.ts';

/** The names the project config file may have, in the order they are looked for. */
export const CONFIG_FILES = ['joinflow.config.yaml', 'joinflow.config.yml', 'joinflow.config.json'];

/** An invalid project config file; lists every problem with its path. */
export class ConfigFileError extends JoinflowError {
  readonly problems: Problem[];
  constructor(file: string, problems: Problem[]) {
    const lines = problems.map((p) => `  - ${p.path ? `${p.path}: ` : ''}${p.message}`);
    super('CONFIG_FILE', `${file}: invalid joinflow config (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
    this.problems = problems;
  }
}

/** The project config file of `root`, if there is one. */
export function findConfigFile(root = process.cwd()): string | undefined {
  const found = CONFIG_FILES.map((f) => path.join(root, f)).filter((f) => existsSync(f));
  // Two would be read one way by us and perhaps another by the reader's eye: keep one.
  if (found.length > 1) throw new ConfigFileError(path.relative(root, found[0]!), [{ path: '', message: `the project has ${found.length} config files (${found.map((f) => path.basename(f)).join(', ')}): keep one` }]);
  return found[0];
}

/** Workflows a workflow target may name; see {@link projectSubscriptions}. */
type KnownWorkflows = { knownWorkflows?: ReadonlySet<string>; knownNames?: readonly string[]; misnamed?: ReadonlyMap<string, string> };

/** The subscriptions of the project config file (none without one); throws ConfigFileError. */
export function loadConfigSubscriptions(root = process.cwd(), known: KnownWorkflows = {}): Subscription[] {
  const file = findConfigFile(root);
  if (!file) return [];
  const shown = path.relative(root, file) || file;
  let raw: unknown;
  try {
    raw = yaml().parse(readFileSync(file, 'utf8'), { uniqueKeys: true, maxAliasCount: 100 }) ?? {};
  } catch (error) {
    if (!(error instanceof yaml().YAMLParseError)) throw error;
    const pos = error.linePos?.[0];
    // The position is in the path: the message's own copy of it (and the colon before its code frame) goes.
    throw new ConfigFileError(shown, [{ path: pos ? `line ${pos.line}, column ${pos.col}` : '', message: error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') }]);
  }
  const parsed = ProjectConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => ({ path: i.path.map(pathKey).join('.'), message: issueMessage(i, raw) + givenDiscriminator(i, raw) }));
    // The patterns that are objects are checked too, and the workflows targets name, so that one
    // reading names every problem.
    const subs = isObject(raw) && isObject(raw['subscriptions']) ? Object.entries(raw['subscriptions']) : [];
    const targets = subs.flatMap(([name, sub]) => (isObject(sub) && isObject(sub['target']) ? [{ name, target: sub['target'] }] : []));
    const said = new Set(problems.map((p) => p.path));
    throw new ConfigFileError(shown, [...problems, ...patternProblems(raw, problems), ...unknownTargets(targets, known).filter((p) => !said.has(p.path))]);
  }
  // Patterns are checked by projectSubscriptions, with every other problem at once.
  return Object.entries(parsed.data.subscriptions).map(([name, s]) => ({ name, pattern: s.pattern, target: s.target }));
}

/**
 * The workflows the config file's workflow targets name, read leniently: also from a config that
 * breaks its schema (loadConfigSubscriptions then lists every problem, unknown targets included).
 */
export function configWorkflowTargets(root = process.cwd()): string[] {
  const file = findConfigFile(root);
  if (!file) return [];
  let raw: unknown;
  try {
    raw = yaml().parse(readFileSync(file, 'utf8'), { uniqueKeys: true, maxAliasCount: 100 });
  } catch {
    return [];
  }
  const subs = isObject(raw) && isObject(raw['subscriptions']) ? Object.values(raw['subscriptions']) : [];
  return subs.flatMap((sub) => {
    const t = isObject(sub) ? sub['target'] : undefined;
    return isObject(t) && t['type'] === 'workflow' && typeof t['workflow'] === 'string' ? [t['workflow']] : [];
  });
}

/** The problems of the patterns in a config that did not pass its schema (not those already reported). */
function patternProblems(raw: unknown, reported: readonly Problem[]): Problem[] {
  const subs = isObject(raw) ? raw['subscriptions'] : undefined;
  if (!isObject(subs)) return [];
  const candidates: Subscription[] = [];
  for (const [name, s] of Object.entries(subs)) {
    if (isObject(s) && isObject(s['pattern'])) candidates.push({ name, pattern: s['pattern'], target: { type: 'command', command: '' } } as Subscription);
  }
  const said = new Set(reported.map((p) => p.path));
  return checkSubscriptions(candidates, (s) => `subscriptions.${s.name}`).filter((p) => !said.has(p.path) && !p.message.startsWith('a second subscription'));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every subscription of the project: the config file's, then each plan's. `knownWorkflows`, when
 * given, is checked against workflow targets (a typo would dead-letter every delivery); the
 * message lists them, or `knownNames` when given (names to suggest, not all compiled).
 */
export function projectSubscriptions(
  plans: readonly TriggerPlan[],
  options: { root?: string; knownWorkflows?: ReadonlySet<string>; knownNames?: readonly string[]; misnamed?: ReadonlyMap<string, string> } = {},
): Subscription[] {
  const root = options.root ?? process.cwd();
  const subs = [...loadConfigSubscriptions(root, options), ...plans.flatMap((p) => p.subscriptions ?? [])];
  // A workflow's own subscriptions are named by its file (its source), and by their name in it.
  const sources = new Map(plans.map((p) => [p.workflow, p.source]));
  const where = (s: { name: string; workflow?: string | undefined }): string =>
    s.workflow ? `${sources.get(s.workflow) ?? `workflow ${s.workflow}`}: subscriptions.${s.name.slice(s.workflow.length + 1)}` : `subscriptions.${s.name}`;
  const problems = checkSubscriptions(subs, where);
  problems.push(...unknownTargets(subs, options, where));
  if (problems.length > 0) throw new ConfigFileError(findConfigFile(root) ? path.relative(root, findConfigFile(root)!) : 'subscriptions', problems);
  return subs;
}

/** Workflow targets that name no known workflow (none checked without `knownWorkflows`). */
function unknownTargets(subs: ReadonlyArray<{ name: string; workflow?: string | undefined; target: unknown }>, options: KnownWorkflows, where = (s: { name: string }) => `subscriptions.${s.name}`): Problem[] {
  const known = options.knownWorkflows;
  if (!known) return [];
  const problems: Problem[] = [];
  for (const sub of subs) {
    const t = sub.target as { type?: unknown; workflow?: unknown };
    if (t.type !== 'workflow' || typeof t.workflow !== 'string' || known.has(t.workflow)) continue;
    const names = [...new Set(options.knownNames ?? known)].sort();
    const misnamed = options.misnamed?.get(t.workflow);
    const why = misnamed === undefined ? `(known: ${names.join(', ') || 'none'})` : `(${misnamed})`;
    problems.push({ path: `${where(sub)}.target.workflow`, message: `no workflow named "${t.workflow}" in workflows/ ${why}` });
  }
  return problems;
}
