'use strict';
/**
 * Shared by the deploy/*.cjs generators that serverless.yml includes with `${file(...)}`: loads
 * the compiled trigger plans, reads `custom.joinflow`, and derives every name, logical id and
 * limit check once per `serverless` process (the context is memoized: each `${file()}` reference
 * calls its generator again).
 *
 * Plans come from $JOINFLOW_TRIGGERS_DIR (default: triggers/ in the service directory). The
 * override exists for tests and CI that want a template for other plans; the function packages
 * always ship ./triggers (the Lambda handlers read plans from there), so `deploy` refuses to run
 * with a different directory (see guard.cjs).
 */
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const SERVICE_DIR = path.resolve(__dirname, '..');

const { LIMITS } = require('./limits.cjs');
const { fargateProblem, gpuFit, gpuTypes } = require('./capacity.cjs');
const { patternLength, planRules, workflowPattern } = require('./rules.cjs');

/**
 * Where the handlers keep objects in the bucket (mirrors src/adapters/aws): claim checks and
 * large batch events under the blob store's prefix (s3-blobs.ts), batch outputs under `runs/`
 * (dispatch.ts outputKey). IAM policies are scoped to these prefixes.
 */
/** Where `joinflow compile` puts the project config's subscriptions, next to the plans. */
const SUBSCRIPTIONS_FILE = '@subscriptions.json';
const BLOB_PREFIX = 'joinflow/';
// Batch jobs write outputs here: outside the start prefix (runs/), so they start nothing.
const OUTPUT_PREFIX = 'outputs/';
// Steps' data files, data/<runId>/<file> (src/adapters/aws/s3-data.ts): read and written by
// batch jobs and workers, checked by the Batch bridge; outside runs/, so they start nothing.
const DATA_PREFIX = 'data/';
// Lambda steps' own large data, steps/<workflow>/...: read and written by the workflow's step
// functions (a result too big for Lambda's records goes here, by key); outside runs/.
const STEP_DATA_PREFIX = 'steps/';

/** First 8 hex characters of sha256(text): keeps sanitized names unique and deterministic. */
function hash(text) {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** Letters and digits only, each run of others dropped and the next letter upper-cased. */
function pascal(text, max = 60) {
  const out = String(text)
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('');
  return out.slice(0, max);
}

/** Letters, digits and `-` (names of Lambda functions, rules, queues, job definitions). */
function slug(text) {
  return String(text).replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/**
 * `<prefix><slug of parts joined by "-">-<hash>`, cut so that the whole fits `max` characters.
 * The hash is of the unsanitized parts, so `a.b` and `a-b` never collide.
 */
function boundedName(prefix, parts, max) {
  const suffix = `-${hash(parts.join('/'))}`;
  const room = max - prefix.length - suffix.length;
  if (room < 0) throw new Error(`the name prefix "${prefix}" leaves no room under the ${max}-character limit: use a shorter stage name`);
  const body = slug(parts.map(slug).join('-')).slice(0, room).replace(/-+$/, '');
  return `${prefix}${body}${suffix}`.replace(/--+/g, '-');
}

/** `{Fn::Sub}` of an ARN in this stack's partition, region and account. */
function arn(service, rest) {
  return { 'Fn::Sub': `arn:\${AWS::Partition}:${service}:\${AWS::Region}:\${AWS::AccountId}:${rest}` };
}

/** A comma-separated string or a list -> list of non-empty strings. */
function list(value) {
  if (value == null) return [];
  const items = Array.isArray(value) ? value : String(value).split(',');
  return items.map((v) => String(v).trim()).filter(Boolean);
}

function positive(value, fallback, what) {
  if (value == null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`custom.joinflow.${what} must be a positive number (got ${JSON.stringify(value)})`);
  return n;
}

/** A whole number of at least 1 from custom.joinflow.<what>. */
function wholeNumber(value, what) {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`custom.joinflow.${what} must be a whole number, 1 or more (got ${JSON.stringify(value)})`);
  return n;
}

/** custom.joinflow.stepMemoryMb: what Lambda takes as a function's MemorySize, or CloudFormation fails the deploy. */
function stepMemoryMb(value) {
  if (value == null || value === '') return 1024;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < LIMITS.lambdaMinMemoryMb || n > LIMITS.lambdaMaxMemoryMb) {
    throw new Error(`custom.joinflow.stepMemoryMb must be a whole number of MB from ${LIMITS.lambdaMinMemoryMb} to ${LIMITS.lambdaMaxMemoryMb}, as Lambda takes a function's memory (got ${JSON.stringify(value)})`);
  }
  return n;
}

/** The plans directory of this run. */
function triggersDir() {
  const fromEnv = process.env.JOINFLOW_TRIGGERS_DIR;
  return fromEnv ? path.resolve(process.cwd(), fromEnv) : path.join(SERVICE_DIR, 'triggers');
}

/** Every plan (sorted by file name), checked enough to generate resources from. */
function loadPlans(dir = triggersDir()) {
  if (!fs.existsSync(dir)) throw new Error(`no trigger plans at ${dir}: run 'joinflow compile' first`);
  const plans = [];
  // `@subscriptions.json` (no workflow name starts with "@") holds the config file's subscriptions.
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !f.startsWith('@')).sort()) {
    const plan = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    if (plan.version !== 1 || typeof plan.workflow !== 'string' || !Array.isArray(plan.triggers) || typeof plan.steps !== 'object') {
      throw new Error(`${path.join(dir, file)} is not a joinflow trigger plan (version 1)`);
    }
    plans.push(plan);
  }
  const seen = new Map();
  for (const p of plans) {
    if (seen.has(p.workflow)) throw new Error(`workflow "${p.workflow}" is compiled twice (${seen.get(p.workflow)} and ${p.source})`);
    seen.set(p.workflow, p.source);
  }
  return plans;
}

/**
 * The subscriptions to deploy: those of the project config file (compiled by `joinflow compile`
 * into @subscriptions.json, defaults applied and patterns checked), then each workflow's own.
 */
function loadSubscriptions(plans, dir = triggersDir()) {
  const file = path.join(dir, SUBSCRIPTIONS_FILE);
  const config = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { version: 1, subscriptions: [] };
  if (config.version !== 1 || !Array.isArray(config.subscriptions)) throw new Error(`${file} is not a joinflow subscriptions file (version 1)`);
  return [...config.subscriptions, ...plans.flatMap((p) => p.subscriptions || [])];
}

/**
 * `custom.joinflow.startPrefix` (default `runs/`): a folder of the bucket of its own. Empty, or
 * holding (or held by) a prefix the stage writes to itself, it would make joinflow's own objects
 * (claim checks, Batch outputs, data files) look like uploads: each would reach the S3 start
 * bridge, which dead-letters an upload of no workflow, or start a run.
 */
function startPrefix(value) {
  const prefix = value == null ? 'runs/' : String(value);
  const own = [BLOB_PREFIX, OUTPUT_PREFIX, DATA_PREFIX, STEP_DATA_PREFIX];
  const clash = own.find((p) => p.startsWith(prefix) || prefix.startsWith(p));
  if (!/^[^/]+(\/[^/]+)*\/$/.test(prefix) || clash !== undefined) {
    const why = clash !== undefined ? `it overlaps ${clash}, where the stage writes its own objects (${own.join(', ')})` : 'it must be one or more folder names, each followed by "/" (e.g. runs/ or inbox/runs/)';
    throw new Error(`custom.joinflow.startPrefix ${JSON.stringify(prefix)} cannot be the prefix of the uploads that start runs: ${why}`);
  }
  return prefix;
}

/** `custom.joinflow` with defaults applied. */
function settings(custom = {}) {
  const c = custom || {};
  const budget = positive(c.ruleBudget, LIMITS.ruleBudget, 'ruleBudget');
  // Two rules of the custom bus are joinflow's own: the Lambda-result bridge's and the unrouted events'.
  if (budget > LIMITS.rulesPerBus - 2) {
    throw new Error(`custom.joinflow.ruleBudget ${budget} leaves no room for joinflow's own two rules on the event bus (the Lambda-result bridge's and the unrouted events'): at most ${LIMITS.rulesPerBus - 2} of EventBridge's ${LIMITS.rulesPerBus} rules per bus`);
  }
  return {
    startPrefix: startPrefix(c.startPrefix),
    gpuInstanceTypes: list(c.gpuInstanceTypes).length ? list(c.gpuInstanceTypes) : ['g4dn.xlarge', 'g5.xlarge'],
    // A compute environment's MaxvCpus is an Integer to CloudFormation: 2.5 would fail the deploy.
    gpuMaxvCpus: c.gpuMaxvCpus == null || c.gpuMaxvCpus === '' ? 64 : wholeNumber(c.gpuMaxvCpus, 'gpuMaxvCpus'),
    cpuMaxvCpus: c.cpuMaxvCpus == null || c.cpuMaxvCpus === '' ? 64 : wholeNumber(c.cpuMaxvCpus, 'cpuMaxvCpus'),
    // Amazon Linux 2 (ECS_AL2_NVIDIA) is at its end of support; Batch has the AL2023 GPU image since 2026.
    gpuImageType: c.gpuImageType ? String(c.gpuImageType) : 'ECS_AL2023_NVIDIA',
    subnets: list(c.subnets),
    securityGroups: list(c.securityGroups),
    assignPublicIp: c.assignPublicIp === 'DISABLED' || c.assignPublicIp === false ? 'DISABLED' : 'ENABLED',
    ruleBudget: budget,
    stepMemoryMb: stepMemoryMb(c.stepMemoryMb),
    // S3 takes a lifecycle rule's ExpirationInDays as a whole number of days, 1 or more: 2.5 would
    // package and then fail the deploy in CloudFormation.
    claimCheckDays: c.claimCheckDays == null || c.claimCheckDays === '' ? 30 : wholeNumber(c.claimCheckDays, 'claimCheckDays'),
    // The widest forEach the processor sends (src/adapters/aws/foreach-width.ts has the defaults).
    maxForEachItems: c.maxForEachItems == null || c.maxForEachItems === '' ? undefined : wholeNumber(c.maxForEachItems, 'maxForEachItems'),
  };
}

/**
 * Everything the generators need, derived once: the stage's names, the plans' function steps,
 * batch steps and container queues, the rule plan.
 */
/** The parts after a stage's prefix that name its step functions, job definitions and task queues. */
const PREFIX_INFIXES = ['s', 'j', 'q'];

/** Days the stage's dead-letter queues keep a message (their MessageRetentionPeriod, the SQS maximum). */
const DLQ_RETENTION_DAYS = 14;
/**
 * Hours an event may take to reach the events DLQ after it was published: EventBridge retries a
 * delivery to its target for 24 hours (triggers.cjs, subscriptions.cjs), then Lambda an
 * asynchronous invocation for 6 (maximumEventAge in serverless.yml, Lambda's default for the bridges).
 */
const DLQ_ARRIVAL_HOURS = 24 + 6;
/** The least claimCheckDays that keeps an event's claim checks while its dead letter may be redriven. */
const DLQ_CLAIM_CHECK_DAYS = DLQ_RETENTION_DAYS + Math.ceil(DLQ_ARRIVAL_HOURS / 24);

function buildModel({ service, stage, region, custom, plans, subscriptions = [], warn = (line) => process.stderr.write(`${line}\n`) }) {
  const s = settings(custom);
  // The DLQs keep a message 14 days (MessageRetentionPeriod 1209600) from when it gets there, which
  // may be 30 hours after the event (and the claim checks it refers to) was written: a dead-lettered
  // event redriven late would find them deleted by the bucket's lifecycle rule.
  if (s.claimCheckDays < DLQ_CLAIM_CHECK_DAYS) {
    const days = `${s.claimCheckDays} day${s.claimCheckDays === 1 ? '' : 's'}`;
    warn(`joinflow: custom.joinflow.claimCheckDays is ${s.claimCheckDays}, under the ${DLQ_CLAIM_CHECK_DAYS} days a dead-lettered event may need the claim checks it refers to: ` +
      `the dead-letter queues keep a message ${DLQ_RETENTION_DAYS} days from when it gets there, which may be ${DLQ_ARRIVAL_HOURS} hours after the event was published ` +
      `(EventBridge retries a delivery for 24 hours, then Lambda an invocation for 6); redriven more than ${days} after it was published, ` +
      `it may find the large results and events it refers to deleted; ${DLQ_CLAIM_CHECK_DAYS} or more keeps them as long as the message`);
  }
  // serverless only warns about a stage outside its pattern; the names made of it would then fail
  // in CloudFormation (an SQS queue name takes letters, digits, - and _; a bus name no _ ...).
  if (!/^[a-zA-Z0-9-]+$/.test(String(stage))) throw new Error(`the stage name "${stage}" may have only letters, digits and dashes (it names the stage's queues, bus, table and functions)`);
  const prefix = `${service}-${stage}`;
  // Past IAM's policy size, roles name step functions, job definitions and task queues by
  // prefix (`<prefix>-s-*`, `-j-*`, `-q-*`; iam.cjs). Another stage's resources match such a
  // prefix only if that stage's name has "s", "j" or "q" as a part between dashes ("dev-s" for
  // "dev"): no stage may.
  const infix = prefix.split('-').find((part) => PREFIX_INFIXES.includes(part));
  if (infix !== undefined) {
    throw new Error(`the name prefix "${prefix}" (service-stage) has "${infix}" as a part between dashes: joinflow's IAM policies may name a stage's resources by "<service>-<stage>-${infix}-*", which would then match another stage's; rename the stage (any part but ${PREFIX_INFIXES.map((p) => `"${p}"`).join(', ')})`);
  }
  const names = {
    prefix,
    bus: prefix,
    table: prefix,
    timerQueue: `${prefix}-timer`,
    timerDlq: `${prefix}-timer-dlq`,
    eventsDlq: `${prefix}-events-dlq`,
    cpuJobQueue: `${prefix}-cpu`,
    gpuJobQueue: `${prefix}-gpu`,
    internal: {
      processor: `${prefix}-processor`,
      lambdaResultBridge: `${prefix}-lambda-result`,
      batchStateBridge: `${prefix}-batch-state`,
      s3StartBridge: `${prefix}-s3-start`,
      timer: `${prefix}-timer`,
    },
  };
  for (const [key, name] of Object.entries(names.internal)) {
    if (name.length > LIMITS.lambdaName) throw new Error(`the Lambda name "${name}" (${key}) is over ${LIMITS.lambdaName} characters: use a shorter stage name`);
  }
  if (names.timerDlq.length > LIMITS.queueName) throw new Error(`the queue name "${names.timerDlq}" is over ${LIMITS.queueName} characters: use a shorter stage name`);

  const functionSteps = [];
  const batchSteps = [];
  /** The job definition of a batch executor (a batch step's own, or an auto step's fallback). */
  function batchStep(plan, step, e, timeoutMs) {
    const id = `${plan.workflow}/${step}`;
    const gpu = e.gpus > 0;
    const vcpus = e.vcpus ?? 1;
    const memoryMb = e.memoryMb ?? 2048;
    if (gpu && !Number.isInteger(vcpus)) throw new Error(`step ${id}: a GPU (EC2) batch step takes a whole number of vCPUs, not ${vcpus}`);
    if (!gpu) {
      const problem = fargateProblem(vcpus, memoryMb);
      if (problem) throw new Error(`step ${id}: CPU batch steps run on Fargate, and ${problem}: change vcpus/memoryMb (or give it gpus)`);
    }
    if (gpu && vcpus > s.gpuMaxvCpus) throw new Error(`step ${id}: ${vcpus} vCPUs is more than the GPU compute environment's MaxvCpus (${s.gpuMaxvCpus}): raise custom.joinflow.gpuMaxvCpus`);
    if (!gpu && vcpus > s.cpuMaxvCpus) throw new Error(`step ${id}: ${vcpus} vCPUs is more than the CPU compute environment's MaxvCpus (${s.cpuMaxvCpus}): raise custom.joinflow.cpuMaxvCpus`);
    if (gpu) {
      // A job no allowed instance type can hold stays RUNNABLE for good (capacity.cjs).
      const fit = gpuFit(id, { gpus: e.gpus, vcpus, memoryMb }, s.gpuInstanceTypes);
      if (fit.problem) throw new Error(fit.problem);
      if (fit.warning) warn(fit.warning);
    }
    return {
      id,
      workflow: plan.workflow,
      step,
      gpu,
      executor: { ...e, vcpus, memoryMb, gpus: e.gpus ?? 0 },
      timeoutMs,
      // One job definition per workflow, image and platform, shared by its steps: each job's command,
      // environment, resources and time-out are given when it is submitted (src/adapters/aws/dispatch.ts).
      // As src/adapters/aws/resource-names.ts names it.
      name: boundedName(`${prefix}-j-`, [plan.workflow, e.image, gpu ? 'gpu' : 'cpu'], LIMITS.batchName),
      logicalId: `JobDefinition${pascal(plan.workflow, 40)}${pascal(e.image, 40)}${hash([plan.workflow, e.image, gpu ? 'gpu' : 'cpu'].join('/')).toUpperCase()}`,
    };
  }
  /**
   * The Lambda handler of a step: its module without the extension, a dot, its export. Lambda's
   * Node.js runtime reads the file name up to its first dot as the module and the rest as the
   * export, so a file name with a dot before its extension would never load: refused here.
   */
  function lambdaHandler(id, module, exportName) {
    const bare = module.replace(/\.(?:[cm]?[jt]s|tsx|jsx)$/, '');
    const file = bare.slice(bare.lastIndexOf('/') + 1);
    if (file.includes('.')) {
      const dot = file.indexOf('.');
      throw new Error(
        `step ${id}: handler module ${module}: Lambda reads a handler's file name up to its first dot, so it would look for a module "${file.slice(0, dot)}" ` +
          `exporting "${file.slice(dot + 1)}.${exportName}" and fail every invocation: rename the file without a dot before its extension (${file.replaceAll('.', '-')}${module.slice(bare.length)})`,
      );
    }
    return `${bare}.${exportName}`;
  }
  const queues = new Set();
  for (const plan of plans) {
    for (const [step, spec] of Object.entries(plan.steps)) {
      const e = spec.executor;
      const id = `${plan.workflow}/${step}`;
      // An `auto` step was compiled into a function or batch executor already; with a Batch fallback
      // it gets a job definition as well (its Lambda attempts that time out continue there).
      if (spec.fallback) batchSteps.push(batchStep(plan, step, spec.fallback.executor, undefined));
      if (e.type === 'function' && e.params !== undefined) {
        // Steps that differ only by params (one handler serving many steps: joinflow import asl)
        // share one function per workflow, module and export: its time-out is their longest.
        const shared = `${plan.workflow}/@${e.module}#${e.export}`;
        const seconds = Math.min(LIMITS.lambdaTimeout, Math.max(1, spec.timeoutMs === undefined ? 60 : Math.ceil(spec.timeoutMs / 1000)));
        const known = functionSteps.find((f) => f.id === shared);
        if (known) {
          known.members.push(id);
          known.timeout = Math.max(known.timeout, seconds);
          continue;
        }
        const logicalId = `Step${pascal(plan.workflow, 40)}${pascal(e.module.replace(/\.[^./]+$/, ''), 40)}${pascal(e.export, 20)}${hash(shared).toUpperCase()}`;
        functionSteps.push({
          id: shared,
          members: [id],
          workflow: plan.workflow,
          key: `s${logicalId.slice(1)}`,
          name: boundedName(`${prefix}-s-`, [plan.workflow, e.module.replace(/^.*\//, '').replace(/\.[^.]+$/, ''), e.export], LIMITS.lambdaName),
          handler: lambdaHandler(id, e.module, e.export),
          module: e.module,
          timeout: seconds,
          logicalId,
        });
      } else if (e.type === 'function') {
        const logicalId = `Step${pascal(plan.workflow, 40)}${pascal(step, 60)}${hash(id).toUpperCase()}`;
        // serverless derives <Key>LambdaFunction / <Key>LogGroup from the key: keep it alphanumeric.
        const key = `s${logicalId.slice(1)}`;
        const name = boundedName(`${prefix}-s-`, [plan.workflow, step], LIMITS.lambdaName);
        const seconds = spec.timeoutMs === undefined ? 60 : Math.ceil(spec.timeoutMs / 1000);
        if (seconds > LIMITS.lambdaTimeout) {
          warn(`joinflow: step ${id}: timeout ${seconds} s is over Lambda's ${LIMITS.lambdaTimeout} s; the function gets ${LIMITS.lambdaTimeout} s (use a batch or container step for longer work)`);
        }
        functionSteps.push({
          id,
          workflow: plan.workflow,
          step,
          key,
          name,
          handler: lambdaHandler(id, e.module, e.export),
          module: e.module,
          timeout: Math.min(LIMITS.lambdaTimeout, Math.max(1, seconds)),
          // Placed (`auto`) steps carry the memory the compiler chose; others get the stage default.
          ...(spec.placement ? { memoryMb: spec.placement.memoryMb } : {}),
          logicalId,
        });
      } else if (e.type === 'batch') {
        batchSteps.push(batchStep(plan, step, e, spec.timeoutMs));
      } else if (e.type === 'container') {
        queues.add(e.queue || 'default');
        if (spec.timeoutMs !== undefined && spec.timeoutMs > LIMITS.sqsVisibilitySeconds * 1000) {
          warn(`joinflow: step ${id}: timeout ${Math.ceil(spec.timeoutMs / 1000)} s is over the ${LIMITS.sqsVisibilitySeconds / 3600} hours SQS keeps a task message invisible: a task still running then reappears on its queue and another worker may start it too (use a batch step for longer work)`);
        }
      } else {
        warn(`joinflow: step ${id} is a ${e.type} step, which runs only on the embedded engine: on AWS it fails (use a function, batch or container step)`);
      }
    }
  }
  const unknownGpuTypes = gpuTypes(s.gpuInstanceTypes).unknown;
  if (batchSteps.some((b) => b.gpu) && unknownGpuTypes.length > 0) {
    warn(`joinflow: custom.joinflow.gpuInstanceTypes has ${unknownGpuTypes.join(', ')}, which joinflow does not know: it cannot check that GPU steps fit them`);
  }
  if (queues.size === 0) queues.add('default');
  // Task queues are <prefix>-q-<queue>, their DLQs <prefix>-dlq-<queue>: no queue name can make one
  // the other's (a queue "x-dlq" next to "x" would, with a "-dlq" suffix).
  const taskQueues = [...queues].sort().map((queue) => ({
    queue,
    name: `${prefix}-q-${queue}`,
    dlqName: `${prefix}-dlq-${queue}`,
    logicalId: `TaskQueue${pascal(queue, 40)}${hash(queue).toUpperCase()}`,
    dlqLogicalId: `TaskQueue${pascal(queue, 40)}${hash(queue).toUpperCase()}Dlq`,
  }));
  const sqsNames = new Set([names.timerQueue, names.timerDlq, names.eventsDlq]);
  for (const q of taskQueues) {
    for (const name of [q.name, q.dlqName]) {
      if (name.length > LIMITS.queueName) throw new Error(`the queue name "${name}" is over ${LIMITS.queueName} characters: use a shorter queue or stage name`);
      if (sqsNames.has(name)) throw new Error(`two SQS queues of the stage would be named "${name}": rename container queue "${q.queue}"`);
      sqsNames.add(name);
    }
  }

  // Resources other than trigger rules, estimated; the rule budget shrinks when the stack would
  // pass CloudFormation's resource limit (guard.cjs checks the exact count afterwards).
  const batchResources = batchSteps.length ? 12 + new Set(batchSteps.map((b) => b.logicalId)).size : 0;
  const other = 40 + functionSteps.length * 4 + taskQueues.length * 2 + 1 + batchResources;
  const resourceRoom = LIMITS.stackResources - other;
  if (resourceRoom < plans.length) {
    throw new Error(`the stack needs about ${other} resources besides its rules (${functionSteps.length} function steps take 4 each), too close to CloudFormation's ${LIMITS.stackResources}: deploy the workflows as several services`);
  }
  // Subscriptions take a rule each (and webhooks a connection and a destination) out of the budgets.
  const subs = subscriptions
    .filter((sub) => {
      if (sub.target.type !== 'command') return true;
      warn(`joinflow: subscription "${sub.name}" runs a local command, which exists only on the embedded engine: it is not deployed`);
      return false;
    })
    .map((sub) => {
      if (sub.target.type === 'webhook' && !/^https:\/\//i.test(sub.target.url)) {
        throw new Error(
          `subscription "${sub.name}": its webhook URL ${sub.target.url} is not HTTPS, and EventBridge API destinations call only HTTPS endpoints: ` +
            'use an https:// URL (http:// works only on the embedded engine, e.g. joinflow dev)',
        );
      }
      return sub;
    })
    .map((sub) => ({
      ...sub,
      logicalId: `Subscription${pascal(sub.name, 60)}${hash(sub.name).toUpperCase()}`,
      ruleName: boundedName(`${prefix}-s-`, [sub.name], LIMITS.ruleName),
      destinationName: boundedName(`${prefix}-`, [sub.name], 64),
    }));
  const subResources = subs.reduce((n, sub) => n + (sub.target.type === 'webhook' ? 3 : 1), subs.length > 0 ? 1 : 0);
  const budget = Math.min(s.ruleBudget - subs.length, resourceRoom - subResources);
  if (budget < plans.length) throw new Error(`${subs.length} subscriptions leave room for only ${budget} trigger rules, fewer than the ${plans.length} workflows: deploy them as several services`);
  const rules = planRules(plans, budget).map((r) =>
    r.kind === 'trigger'
      ? {
          ...r,
          logicalId: `TriggerRule${pascal(r.workflow, 40)}${pascal(r.trigger.id, 60)}${hash(`${r.workflow}/${r.trigger.id}`).toUpperCase()}`,
          name: boundedName(`${prefix}-t-`, [r.workflow, r.trigger.id], LIMITS.ruleName),
        }
      : {
          ...r,
          logicalId: `WorkflowRule${pascal(r.workflow, 60)}${hash(r.workflow).toUpperCase()}`,
          name: boundedName(`${prefix}-w-`, [r.workflow], LIMITS.ruleName),
        },
  );
  for (const r of rules) {
    if (r.kind === 'workflow') {
      warn(`joinflow: workflow "${r.workflow}": its ${r.triggers} triggers share one EventBridge rule, because ${r.reason}`);
    }
  }
  const unique = new Set();
  for (const id of [...rules.map((r) => r.logicalId), ...functionSteps.map((f) => f.logicalId), ...new Set(batchSteps.map((b) => b.logicalId))]) {
    if (unique.has(id)) throw new Error(`duplicate logical id ${id}`);
    unique.add(id);
  }
  return { service, stage, region, settings: s, names, plans, functionSteps, batchSteps, taskQueues, rules, subscriptions: subs, hasBatch: batchSteps.length > 0 };
}

let memo;
/** The model of this serverless run, from the variables serverless resolves. */
async function context({ resolveVariable, resolveConfigurationProperty }) {
  memo ??= (async () => {
    const service = String(await resolveVariable('self:service'));
    const stage = String(await resolveVariable('sls:stage'));
    const region = String(await resolveVariable('self:provider.region'));
    const custom = (await resolveConfigurationProperty(['custom', 'joinflow'])) || {};
    try {
      const plans = loadPlans();
      return buildModel({ service, stage, region, custom, plans, subscriptions: loadSubscriptions(plans) });
    } catch (error) {
      stop(stage, error);
    }
  })();
  return memo;
}

/**
 * Every ${file()} reference would report a problem (a dozen times, among stack frames): say it
 * once and stop serverless.
 */
function stop(stage, error) {
  process.stderr.write(`\njoinflow: cannot build the stack of stage "${stage}": ${error.message}\n`);
  process.exit(1);
}

/**
 * A `${file(./deploy/x.cjs):name}` entry point: `build(model)` of this run's model, where a
 * problem is said once, as the model's own (see stop).
 */
function generator(build) {
  return async (vars) => {
    const model = await context(vars);
    try {
      return await build(model);
    } catch (error) {
      return stop(model.stage, error);
    }
  };
}

module.exports = {
  LIMITS,
  BLOB_PREFIX,
  OUTPUT_PREFIX,
  DATA_PREFIX,
  STEP_DATA_PREFIX,
  SERVICE_DIR,
  arn,
  boundedName,
  buildModel,
  context,
  fargateProblem,
  generator,
  gpuFit,
  hash,
  list,
  loadPlans,
  loadSubscriptions,
  SUBSCRIPTIONS_FILE,
  pascal,
  patternLength,
  planRules,
  settings,
  slug,
  stop,
  triggersDir,
  workflowPattern,
};
