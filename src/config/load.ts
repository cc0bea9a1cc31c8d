/**
 * Loading and validating the config: YAML text (or nothing, for the built-in defaults) in, a
 * resolved Config out, or a ConfigError listing every bad field by its path.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { Policy } from '../engine/policy.js';
import { ConfigSchema, type Config, type ResolvedPolicySettings } from './schema.js';
import { DEFAULT_CONFIG } from './defaults.js';

/** A config that cannot be used; `issues` are `path: problem` lines. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
    options?: { cause?: unknown },
  ) {
    super(`invalid config ${source}:\n  ${issues.join('\n  ')}`, options);
    this.name = 'ConfigError';
  }
}

// Names the value received when it is a scalar, so that "mode: block" reads as what was wrong.
function received(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  const scalar = ['string', 'number', 'boolean'].includes(typeof input);
  return scalar ? ` (got ${JSON.stringify(input).slice(0, 80)})` : '';
}

function issueLines(error: z.ZodError, prefix: string): string[] {
  return error.issues.map((i) => {
    const path = [prefix, ...i.path.map(String)].filter((s) => s !== '').join('.');
    return `${path || '(top level)'}: ${i.message}${received(i)}`;
  });
}

/** Validates a parsed config document against the schema and every policy's params schema. */
export function resolveConfig(
  doc: unknown,
  registry: ReadonlyMap<string, Policy>,
  source = 'config',
): Config {
  const parsed = ConfigSchema.safeParse(doc ?? {}, { reportInput: true });
  if (!parsed.success) throw new ConfigError(source, issueLines(parsed.error, ''));
  const raw = parsed.data;
  const issues: string[] = [];

  for (const id of Object.keys(raw.policies)) {
    if (!registry.has(id))
      issues.push(`policies.${id}: unknown policy (known: ${[...registry.keys()].join(', ')})`);
  }
  raw.exceptions.forEach((e, i) => {
    for (const id of e.policies) {
      if (!registry.has(id)) issues.push(`exceptions.${i}.policies: unknown policy "${id}"`);
    }
  });

  const policies: Record<string, ResolvedPolicySettings> = {};
  for (const [id, policy] of registry) {
    const settings = raw.policies[id];
    const params = policy.params.safeParse(settings?.params ?? {}, { reportInput: true });
    if (!params.success) {
      issues.push(...issueLines(params.error, `policies.${id}.params`));
      continue;
    }
    policies[id] = {
      mode: settings?.mode ?? policy.defaultMode,
      namespaces: settings?.namespaces ?? { include: ['*'], exclude: [] },
      kinds: settings?.kinds,
      params: params.data,
    };
  }
  if (issues.length > 0) throw new ConfigError(source, issues);
  return { excludedNamespaces: raw.excludedNamespaces, policies, exceptions: raw.exceptions };
}

/** Parses YAML text and resolves it; YAML syntax errors become ConfigErrors too. */
export function parseConfig(
  text: string,
  registry: ReadonlyMap<string, Policy>,
  source = 'config',
): Config {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(source, [`(YAML) ${(err as Error).message.split('\n')[0]}`], {
      cause: err,
    });
  }
  return resolveConfig(doc, registry, source);
}

/** Loads the config file at `path`, or the built-in defaults when no path is given. */
export function loadConfig(
  path: string | undefined,
  registry: ReadonlyMap<string, Policy>,
): Config {
  if (path === undefined) return resolveConfig(DEFAULT_CONFIG, registry, 'built-in defaults');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      path,
      [`cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`],
      {
        cause: err,
      },
    );
  }
  return parseConfig(text, registry, path);
}
