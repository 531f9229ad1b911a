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
// fetch() refuses a value with a line break or NUL at every attempt (`Headers.append: ... is an invalid header value`).
// fetch() also refuses a character beyond U+00FF (a header is bytes): "équipe" passes, an emoji does not.
const headerValue = z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'a header value must be text of single-byte characters (Latin-1) without line breaks or NUL');

/** The ports fetch() never connects to (the Fetch standard's "bad ports"): every attempt would fail. */
const BAD_PORTS = new Set([1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

/** POSTs the event as JSON; 2xx delivers, 408/429/5xx and network errors are retried. */
export const WebhookTargetSchema = z.strictObject({
  type: z.literal('webhook'),
  url: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    // fetch() refuses such a URL at every attempt, and the reason would carry the password.
    // zod runs a refinement even after the URL check failed: a value that is no URL is left to that check's message.
    .refine((u) => { const parsed = URL.canParse(u) ? new URL(u) : undefined; return parsed === undefined || (parsed.username === '' && parsed.password === ''); }, 'must not carry credentials (user:password@): send them in headers, e.g. Authorization')
    .refine((u) => !URL.canParse(u) || !BAD_PORTS.has(Number(new URL(u).port)), 'names a port that fetch() never connects to (a "bad port" of the Fetch standard, such as 1, 22 or 25): use another port'),
  headers: z.record(headerName, headerValue).default({}),
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

/**
 * `subscriptions:` with nothing under it (YAML reads null: every subscription commented out, say)
 * declares none, as an absent key does.
 */
export const OptionalSubscriptionsSchema = SubscriptionsSchema.nullish().transform((v) => v ?? {});

/** `joinflow.config.yaml` (or .yml/.json) at the project root. */
export const ProjectConfigSchema = z.strictObject({
  subscriptions: OptionalSubscriptionsSchema,
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
