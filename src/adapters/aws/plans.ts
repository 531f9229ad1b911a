/** Loads compiled trigger plans (triggers/*.json) packaged next to a Lambda bundle. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { JoinflowError } from '../../model/errors.ts';
import type { TriggerPlan } from '../../model/plan.ts';

/** Every plan in `dir` (default: $JOINFLOW_TRIGGERS_DIR, else ./triggers). */
export function loadPlans(dir = process.env['JOINFLOW_TRIGGERS_DIR'] ?? path.join(process.cwd(), 'triggers')): TriggerPlan[] {
  if (!existsSync(dir)) throw new JoinflowError('NO_PLANS', `no trigger plans at ${dir}: run 'joinflow compile' and package triggers/`);
  return readdirSync(dir)
    // @subscriptions.json is the config file's subscriptions (deploy/subscriptions.cjs), not a plan.
    .filter((f) => f.endsWith('.json') && !f.startsWith('@'))
    .sort()
    .map((f) => {
      const plan = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as TriggerPlan;
      if (plan.version !== 1 || typeof plan.workflow !== 'string' || !Array.isArray(plan.triggers)) {
        throw new JoinflowError('BAD_PLAN', `${f} is not a joinflow trigger plan (version 1)`);
      }
      return plan;
    });
}
