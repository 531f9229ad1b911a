/**
 * Subscriptions: rules users declare to send events to their own services. A subscription is an
 * EventBridge event pattern plus one target — a webhook, a local command, or a workflow run. The
 * same declarations run on the embedded engine and become EventBridge rules on AWS.
 */
import { z } from 'zod';

/** Subscription names: usable in rule names and dead-letter reasons. */
export const SUBSCRIPTION_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** How deliveries are retried: the n-th retry waits min(backoffMs * factor^(n-1), maxDelayMs). */
export const DeliveryRetrySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(185).default(5),
  backoffMs: z.number().finite().nonnegative().default(1000),
  factor: z.number().finite().min(1).default(2),
  maxDelayMs: z.number().finite().nonnegative().default(60_000),
});

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name');

/** POSTs the event as JSON; 2xx delivers, 408/429/5xx and network errors are retried. */
export const WebhookTargetSchema = z.strictObject({
  type: z.literal('webhook'),
  url: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    // fetch() refuses such a URL at every attempt, and the reason would carry the password.
    // zod runs a refinement even after the URL check failed: a value that is no URL is left to that check's message.
    .refine((u) => { const parsed = URL.canParse(u) ? new URL(u) : undefined; return parsed === undefined || (parsed.username === '' && parsed.password === ''); }, 'must not carry credentials (user:password@): send them in headers, e.g. Authorization'),
  headers: z.record(headerName, z.string()).default({}),
  timeoutMs: z.number().int().positive().max(300_000).default(10_000),
  retry: DeliveryRetrySchema.default({ maxAttempts: 5, backoffMs: 1000, factor: 2, maxDelayMs: 60_000 }),
});

/** Runs a command (no shell) with the event as JSON on stdin; exit status 0 delivers. Local only. */
export const CommandTargetSchema = z.strictObject({
  type: z.literal('command'),
  command: z.string().min(1, 'must name the command to run'),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().optional(),
  timeoutMs: z.number().int().positive().max(3_600_000).default(60_000),
  retry: DeliveryRetrySchema.default({ maxAttempts: 5, backoffMs: 1000, factor: 2, maxDelayMs: 60_000 }),
});

/**
 * Starts a run of `workflow` per matching event. Its input is the part of the event `inputPath`
 * selects (`$` the whole event, `$.detail.output` a field), like a rule target's InputPath; the run
 * id derives from the subscription and the event id, so a redelivered event starts no second run.
 */
export const WorkflowTargetSchema = z.strictObject({
  type: z.literal('workflow'),
  // The workflow name alphabet (workflow.ts imports this module, so it is not imported back).
  workflow: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, 'must be a workflow name'),
  inputPath: z.string().regex(/^\$(\.[A-Za-z0-9_-]+)*$/, 'must be "$" or a dotted path such as "$.detail.output"').default('$'),
});

export const TargetSchema = z.discriminatedUnion('type', [WebhookTargetSchema, CommandTargetSchema, WorkflowTargetSchema]);

export const SubscriptionSchema = z.strictObject({
  description: z.string().optional(),
  // Checked against the EventBridge pattern language by model/pattern.ts, with the field's path.
  pattern: z.record(z.string(), z.unknown()),
  target: TargetSchema,
});

export const SubscriptionsSchema = z.record(
  z.string().regex(SUBSCRIPTION_NAME_PATTERN, 'subscription names are 1-64 letters, digits, "_", "." or "-"'),
  SubscriptionSchema,
);

/** `joinflow.config.yaml` (or .yml/.json) at the project root. */
export const ProjectConfigSchema = z.strictObject({
  subscriptions: SubscriptionsSchema.default({}),
});

export type DeliveryRetry = z.infer<typeof DeliveryRetrySchema>;
export type WebhookTarget = z.infer<typeof WebhookTargetSchema>;
export type CommandTarget = z.infer<typeof CommandTargetSchema>;
export type WorkflowTarget = z.infer<typeof WorkflowTargetSchema>;
export type SubscriptionTarget = z.infer<typeof TargetSchema>;
export type SubscriptionSpec = z.infer<typeof SubscriptionSchema>;
export type SubscriptionsInput = z.input<typeof SubscriptionsSchema>;
export type ProjectConfig = z.infer<typeof ProjectConfigSchema>;

/** A subscription ready to run: its full name and the pattern it matches (scope applied). */
export type Subscription = {
  /** `name` from the config file; `<workflow>.<name>` when declared in a workflow. */
  name: string;
  /** The workflow file that declared it, for scoped subscriptions. */
  workflow?: string;
  pattern: Record<string, unknown>;
  target: SubscriptionTarget;
};
