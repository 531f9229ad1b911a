/**
 * Reads workflow files (TypeScript/JavaScript modules, YAML, JSON), checks the handler modules
 * they name, and compiles them. The compiler stays pure: this is where the I/O happens.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { compileWorkflow } from '../../compiler/compile.ts';
import type { ModuleInfo } from '../../compiler/validate.ts';
import { isWorkflowBuilder } from '../../model/builder.ts';
import { UsageError, WorkflowDefinitionError } from '../../model/errors.ts';
import type { TriggerPlan } from '../../model/plan.ts';

const MODULE_EXT = ['.ts', '.mts', '.js', '.mjs'];
const DATA_EXT = ['.yaml', '.yml', '.json'];
const WORKFLOW_EXT = [...MODULE_EXT, ...DATA_EXT];

/** Turns `diamond` into `workflows/diamond.ts` (or .yaml, .json, diamond/workflow.*); paths pass through. */
export function findWorkflowFile(nameOrPath: string, root = process.cwd()): string {
  const direct = path.resolve(root, nameOrPath);
  if (existsSync(direct) && statSync(direct).isFile()) return direct;
  const tried: string[] = [nameOrPath];
  const bases = [path.join(root, 'workflows', nameOrPath), path.join(root, 'workflows', nameOrPath, 'workflow'), direct];
  for (const base of bases) {
    for (const ext of WORKFLOW_EXT) {
      const candidate = base + ext;
      if (existsSync(candidate)) return candidate;
      tried.push(path.relative(root, candidate));
    }
  }
  throw new UsageError(`workflow "${nameOrPath}" not found (tried ${tried.slice(0, 6).join(', ')}, ...)`);
}

/** Workflow files of a project: top-level files in workflows/ and workflows/<name>/workflow.*. */
export function listWorkflowFiles(root = process.cwd()): string[] {
  const dir = path.join(root, 'workflows');
  if (!existsSync(dir)) return [];
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isFile() && WORKFLOW_EXT.includes(path.extname(entry.name)) && !entry.name.endsWith('.d.ts')) {
      files.push(path.join(dir, entry.name));
    } else if (entry.isDirectory()) {
      for (const ext of WORKFLOW_EXT) {
        const f = path.join(dir, entry.name, `workflow${ext}`);
        if (existsSync(f)) files.push(f);
      }
    }
  }
  return files;
}

/** Loads a workflow definition (not yet validated) from a file. */
export async function loadDefinition(file: string): Promise<unknown> {
  const ext = path.extname(file);
  if (MODULE_EXT.includes(ext)) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (error) {
      throw new WorkflowDefinitionError([{ path: '', message: `cannot load module: ${(error as Error).message}` }], file);
    }
    const value = mod['default'] ?? mod['workflow'];
    if (value === undefined) {
      throw new WorkflowDefinitionError([{ path: '', message: 'the module has no default export (export default workflow(...))' }], file);
    }
    return isWorkflowBuilder(value) ? value.build() : value;
  }
  if (!DATA_EXT.includes(ext)) {
    throw new UsageError(`${file}: unsupported workflow file type "${ext}" (use ${WORKFLOW_EXT.join(', ')})`);
  }
  const text = readFileSync(file, 'utf8');
  try {
    // JSON is YAML too; the YAML parser also reports duplicate keys, which JSON.parse hides.
    return parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const pos = error.linePos?.[0];
      const where = pos ? `line ${pos.line}, column ${pos.col}` : '';
      throw new WorkflowDefinitionError([{ path: where, message: error.message.split('\n')[0]! }], file);
    }
    throw error;
  }
}

/** Checks every handler module a definition names: file exists, loads, has the export. */
export async function resolveModules(definition: unknown, file: string, root: string): Promise<Record<string, ModuleInfo>> {
  const out: Record<string, ModuleInfo> = {};
  const steps = (definition as { steps?: unknown } | null)?.steps;
  if (typeof steps !== 'object' || steps === null) return out;
  for (const step of Object.values(steps)) {
    const executor = (step as { executor?: { type?: unknown; module?: unknown } } | null)?.executor;
    if (executor?.type !== 'function' && executor?.type !== 'container') continue;
    if (typeof executor.module !== 'string' || executor.module in out) continue;
    const abs = path.resolve(path.dirname(file), executor.module);
    const rel = path.relative(root, abs).split(path.sep).join('/');
    if (!existsSync(abs)) {
      out[executor.module] = { error: `handler module "${executor.module}" not found (no file ${rel})` };
      continue;
    }
    try {
      const mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
      out[executor.module] = { path: rel, exports: Object.keys(mod).filter((k) => typeof mod[k] === 'function').sort() };
    } catch (error) {
      out[executor.module] = { error: `cannot load handler module ${rel}: ${(error as Error).message}` };
    }
  }
  return out;
}

/** Loads, checks and compiles one workflow file. */
export async function compileFile(file: string, root = process.cwd()): Promise<TriggerPlan> {
  const definition = await loadDefinition(file);
  const modules = await resolveModules(definition, file, root);
  const source = path.relative(root, file).split(path.sep).join('/');
  return compileWorkflow(definition, { source, modules });
}
