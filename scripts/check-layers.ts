/**
 * Dependencies point one way (DESIGN.md): model <- compiler <- runtime <- adapters <- cli, and
 * `@aws-sdk/*` only under src/adapters/aws/. Fails listing every import that breaks the rule.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', 'src');
const rank: Record<string, number> = { model: 0, compiler: 1, importers: 1, cost: 1, timeline: 1, runtime: 2, 'ports.ts': 2, adapters: 3, cli: 4, 'index.ts': 5, 'handler.ts': 5, 'asl.ts': 5 };

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

const layerOf = (file: string) => path.relative(root, file).split(path.sep)[0]!;
const problems: string[] = [];
for (const file of files(root)) {
  const text = readFileSync(file, 'utf8');
  const from = layerOf(file);
  for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
    const spec = m[1]!;
    const where = `${path.relative(path.dirname(root), file)}: imports "${spec}"`;
    if (spec.startsWith('@aws-sdk/') && !path.relative(root, file).startsWith(path.join('adapters', 'aws'))) {
      problems.push(`${where} — the AWS SDK belongs under src/adapters/aws/`);
    }
    if (!spec.startsWith('.')) continue;
    const to = layerOf(path.resolve(path.dirname(file), spec));
    if ((rank[to] ?? 0) > (rank[from] ?? 0)) problems.push(`${where} — ${from} must not depend on ${to}`);
    if (from === 'compiler' && to === 'importers') problems.push(`${where} — compiler must not depend on importers`);
  }
}
if (problems.length > 0) {
  console.error(`layer check: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log('layer check: ok');
