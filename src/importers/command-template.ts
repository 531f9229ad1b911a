/**
 * Command templates of the WfCommons importer: `'node tool.mjs {category} {runtime*0.01} --in
 * {inputs}'` becomes one argv per task. Pure, no shell: the text is split into words the way a
 * POSIX shell splits them (whitespace; '…' literal; "…" with \" and \\; \x outside quotes), but
 * nothing is expanded except the placeholders, so `|`, `>`, `$X` and `*` are plain characters.
 *
 * Placeholders (inside or outside quotes; `{{` and `}}` are literal braces):
 *   {id}          the step id (the trace's task identifier)
 *   {name}        the task's name            {category}  its category (mProject)
 *   {runtime}     recorded runtime, seconds  {runtime*F} that times F (e.g. {runtime*0.01})
 *   {program}     the recorded command's program (an error for tasks that have none): the task
 *                 type where categories are per-task names (Epigenomics)
 *   {inputs} {outputs} {arguments}  lists — input files, output files, the recorded command's
 *                 arguments — each item one word; these must stand as a whole word.
 */

/** What a template can refer to, for one task. */
export type TemplateFacts = {
  id: string;
  name: string;
  category: string;
  runtimeSeconds: number;
  inputs: readonly string[];
  outputs: readonly string[];
  program?: string;
  arguments?: readonly string[];
};

const SCALARS = ['id', 'name', 'category', 'runtime', 'program'] as const;
const LISTS = ['inputs', 'outputs', 'arguments'] as const;
type Scalar = (typeof SCALARS)[number];
type List = (typeof LISTS)[number];

type Part = string | { scalar: Scalar; scale: number };
type Word = { list: List } | { parts: Part[] };

/** A parsed command template (see the module comment for the language). */
export type CommandTemplate = { source: string; words: Word[] };
/** A parsed single-value template (an environment value): placeholders, no word splitting. */
export type ValueTemplate = { source: string; parts: Part[] };

/** Parse or expansion result: the value, or what is wrong (a sentence, for a Problem). */
export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const err = (error: string): Result<never> => ({ ok: false, error });

/** Parses a command template; the first word is the program to run. */
export function parseCommandTemplate(source: string): Result<CommandTemplate> {
  const split = splitWords(source);
  if (!split.ok) return split;
  if (split.value.length === 0) return err('is empty: name the command to run');
  const words: Word[] = [];
  // Every word is checked: a template with several problems reports them all, in one message.
  const problems: string[] = [];
  const unknown: string[] = [];
  for (const raw of split.value) {
    const parsed = parsePlaceholders(raw, unknown);
    if (!parsed.ok) {
      problems.push(parsed.error);
      continue;
    }
    const only = parsed.value.length === 1 ? parsed.value[0] : undefined;
    if (only !== undefined && typeof only !== 'string' && 'list' in only) words.push({ list: only.list });
    else {
      const list = parsed.value.find((p): p is { list: List } => typeof p !== 'string' && 'list' in p);
      if (list) problems.push(`{${list.list}} is a list and must stand as a word of its own (in "${raw}")`);
      else words.push({ parts: parsed.value as Part[] });
    }
  }
  if (unknown.length > 0) problems.unshift(unknownPlaceholders(unknown));
  if (problems.length > 0) return err(problems.join('; '));
  const first = words[0]!;
  if ('list' in first) return err(`starts with {${first.list}}: the first word must name the program`);
  return ok({ source, words });
}

/** Parses an environment value template: placeholders only, lists refused. */
export function parseValueTemplate(source: string): Result<ValueTemplate> {
  const unknown: string[] = [];
  const parsed = parsePlaceholders(source, unknown);
  if (!parsed.ok) return parsed;
  if (unknown.length > 0) return err(unknownPlaceholders(unknown));
  const list = parsed.value.find((p): p is { list: List } => typeof p !== 'string' && 'list' in p);
  if (list) return err(`{${list.list}} is a list; a single value cannot hold it`);
  return ok({ source, parts: parsed.value as Part[] });
}

/** The argv of one task: [program, ...args]. */
export function expandCommand(template: CommandTemplate, facts: TemplateFacts): Result<string[]> {
  const argv: string[] = [];
  for (const word of template.words) {
    if ('list' in word) {
      const items = word.list === 'arguments' ? facts.arguments : facts[word.list];
      if (items === undefined) return err(`task "${facts.id}" has no recorded command, so {arguments} cannot be filled`);
      argv.push(...items);
      continue;
    }
    const value = joinParts(word.parts, facts);
    if (!value.ok) return value;
    argv.push(value.value);
  }
  if (argv[0] === '') return err(`the program of task "${facts.id}" expands to an empty word`);
  return ok(argv);
}

/** The value of one task. */
export function expandValue(template: ValueTemplate, facts: TemplateFacts): Result<string> {
  return joinParts(template.parts, facts);
}

/** Seconds with at most 6 decimals, no exponent and no trailing zeros: what `sleep` accepts. */
export function formatSeconds(seconds: number): string {
  const fixed = seconds.toFixed(6);
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

function joinParts(parts: readonly Part[], facts: TemplateFacts): Result<string> {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else if (p.scalar === 'runtime') out += formatSeconds(facts.runtimeSeconds * p.scale);
    else if (p.scalar === 'program') {
      if (facts.program === undefined) return err(`task "${facts.id}" has no recorded command, so {program} cannot be filled`);
      out += facts.program;
    } else out += facts[p.scalar];
  }
  return ok(out);
}

/** Shell-style word splitting without expansions. */
function splitWords(source: string): Result<string[]> {
  const words: string[] = [];
  let word = '';
  // A word exists once anything, even an empty quoted string (''), has been seen.
  let inWord = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === "'") {
      const end = source.indexOf("'", i + 1);
      if (end < 0) return err(`has an unclosed ' quote at column ${i + 1}`);
      word += source.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < source.length && source[j] !== '"'; j++) {
        // Inside double quotes a backslash escapes only " and \ (as in a shell, minus $ and `).
        if (source[j] === '\\' && (source[j + 1] === '"' || source[j + 1] === '\\')) j++;
        word += source[j];
      }
      if (j >= source.length) return err(`has an unclosed " quote at column ${i + 1}`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= source.length) return err('ends with a lone backslash');
      word += source[++i];
      inWord = true;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return ok(words);
}

const PLACEHOLDER = /^([a-z]+)(?:\*((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?))?$/i;

/** The placeholders of one word or value; unknown ones are added to `unknown` (reported once, by the caller). */
function parsePlaceholders(text: string, unknown: string[]): Result<Array<Part | { list: List }>> {
  const parts: Array<Part | { list: List }> = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if ((c === '{' || c === '}') && text[i + 1] === c) {
      literal += c;
      i++;
      continue;
    }
    if (c === '}') return err(`has a "}" without "{" in "${text}" (write }} for a literal brace)`);
    if (c !== '{') {
      literal += c;
      continue;
    }
    const end = text.indexOf('}', i + 1);
    if (end < 0) return err(`has a "{" without "}" in "${text}" (write {{ for a literal brace)`);
    const body = text.slice(i + 1, end);
    const m = PLACEHOLDER.exec(body);
    const name = m?.[1];
    if (!m || name === undefined || ![...SCALARS, ...LISTS].includes(name as Scalar)) {
      unknown.push(`{${body}}`);
      i = end;
      continue;
    }
    if (m[2] !== undefined && name !== 'runtime') return err(`{${body}}: only {runtime} takes a factor`);
    if (literal !== '') parts.push(literal);
    literal = '';
    if ((LISTS as readonly string[]).includes(name)) parts.push({ list: name as List });
    else {
      const scale = m[2] === undefined ? 1 : Number(m[2]);
      if (!Number.isFinite(scale)) return err(`{${body}}: the factor must be a finite number`);
      parts.push({ scalar: name as Scalar, scale });
    }
    i = end;
  }
  if (literal !== '' || parts.length === 0) parts.push(literal);
  return ok(parts);
}

function unknownPlaceholders(names: readonly string[]): string {
  const known = [...SCALARS, ...LISTS].map((k) => `{${k}}`).join(' ');
  return `has ${names.length === 1 ? 'an unknown placeholder' : 'unknown placeholders'} ${names.join(', ')} (known: ${known} {runtime*F})`;
}
