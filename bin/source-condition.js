/**
 * A module resolve hook that bin/joinflow.js registers when it runs the TypeScript sources (src/,
 * through tsx): it adds package.json's `joinflow-source` condition to every resolution, so that
 * a workflow's `import { workflow } from 'joinflow'` gets src/index.ts, the copy the CLI runs,
 * rather than the compiled dist/index.js that plain Node gets. One copy of the module graph: the
 * CLI's `instanceof WorkflowDefinitionError` recognises what a workflow's builder throws, and
 * dist/ may be older than the sources or not built at all. Handler worker threads get the
 * condition as --conditions (src/adapters/local/handler-worker-start.ts, SOURCE_CONDITION).
 * Runs in Node's loader-hooks thread; plain JavaScript, since it must load without a build.
 */
const SOURCE_CONDITION = 'joinflow-source';

export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions ?? [];
  if (conditions.includes(SOURCE_CONDITION)) return nextResolve(specifier, context);
  return nextResolve(specifier, { ...context, conditions: [...conditions, SOURCE_CONDITION] });
}
