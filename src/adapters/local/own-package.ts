/**
 * A module resolve hook of the compiled CLI (dist/), registered with tsx by bin/joinflow.js on
 * the main thread and by function-worker.ts in handler workers. A workflow or handler that
 * imports this package (`import { workflow } from 'joinflow'`, `import { NonRetriableStepError }
 * from 'joinflow/handler'`) gets the compiled copy from package.json's `exports` by itself; only
 * a process that runs with the `joinflow-source` condition (`--conditions`, `NODE_OPTIONS`)
 * would resolve it to the TypeScript sources, src/index.ts, compiled by tsx at every start (0.1 s
 * on the main thread, 0.3-0.5 s in a worker) beside the compiled copy the CLI itself runs. This
 * hook sends such an import to the compiled copy, dist/index.js: the same code, built from the
 * same sources (the CLI runs dist/ only while it is newer than src/), and on the main thread the
 * same module instances as the engine's. Only an import that resolves to this package's own
 * src/index.ts (or src/handler.ts) is redirected; anything else is left as resolved.
 * Runs in Node's loader-hooks thread: it imports nothing.
 */

/**
 * What the hook is given when registered: the sources' index URL and the compiled one's, and
 * the same for the handlers' entry (`joinflow/handler`).
 */
export type OwnPackage = { src: string; dist: string; handlerSrc?: string; handlerDist?: string };

let own: OwnPackage | undefined;

export function initialize(data: OwnPackage): void {
  own = data;
}

type Resolved = { url: string; format?: string | null | undefined };

export async function resolve(specifier: string, context: object, nextResolve: (specifier: string, context: object) => Promise<Resolved>): Promise<Resolved> {
  const resolved = await nextResolve(specifier, context);
  if (own !== undefined && resolved.url === own.src) return { ...resolved, url: own.dist, format: 'module' };
  if (own?.handlerDist !== undefined && resolved.url === own.handlerSrc) return { ...resolved, url: own.handlerDist, format: 'module' };
  return resolved;
}

/** The hook's data for the package whose dist/ directory is at `distUrl` (ends with a slash). */
export function ownPackageData(distUrl: string): OwnPackage {
  return {
    src: new URL('../src/index.ts', distUrl).href,
    dist: new URL('index.js', distUrl).href,
    handlerSrc: new URL('../src/handler.ts', distUrl).href,
    handlerDist: new URL('handler.js', distUrl).href,
  };
}

/**
 * The registration of this hook for the package a compiled module at `moduleUrl` belongs to
 * (`depth`: how many directories below dist/ it is), for module.register.
 */
export function ownPackageHook(moduleUrl: string, depth: number): { hook: URL; data: OwnPackage } {
  const dist = new URL(`${'../'.repeat(depth)}`, moduleUrl);
  return {
    hook: new URL('adapters/local/own-package.js', dist),
    data: ownPackageData(dist.href),
  };
}
