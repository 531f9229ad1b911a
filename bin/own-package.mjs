// Module resolve hook of the compiled CLI (registered by bin/joinflow.js with tsx). A workflow or
// handler that imports this package (`import { workflow, fn } from 'joinflow'`) would otherwise
// get its TypeScript sources, src/index.ts, compiled by tsx at every start (~0.12 s) beside the
// compiled copy the CLI itself runs. It gets the compiled copy, dist/index.js: the same code, built
// from the same sources (the CLI runs dist/ only while it is newer than src/), and the same
// module instances as the engine's. Only an import that resolves to this package's own
// src/index.ts is redirected; any other resolution is left as it is.

let from;
let to;

export function initialize(data) {
  from = data.src;
  to = data.dist;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  if (resolved.url === from) return { ...resolved, url: to, format: 'module' };
  return resolved;
}
