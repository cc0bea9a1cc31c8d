/**
 * Loading and validating the config: YAML text (or nothing, for the built-in defaults) in, a
 * resolved Config out, or a ConfigError listing every bad field by its path.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { Policy } from '../engine/policy.js';
import {
  ConfigSchema,
  type Config,
  type PolicyException,
  type ResolvedPolicySettings,
} from './schema.js';
import { isRecord } from '../engine/paths.js';
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
  if (issue.code === 'custom') return ''; // custom messages quote the value themselves
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

/**
 * Validates a parsed config document against the schema and every policy's params schema.
 * Every problem is reported at once: a shape error elsewhere does not hide a bad parameter.
 */
export function resolveConfig(
  doc: unknown,
  registry: ReadonlyMap<string, Policy>,
  source = 'config',
): Config {
  const parsed = ConfigSchema.safeParse(doc ?? {}, { reportInput: true });
  const issues = parsed.success ? [] : issueLines(parsed.error, '');
  const rawPolicies = isRecord(doc) && isRecord(doc.policies) ? doc.policies : {};
  issues.push(...unknownPolicies(rawPolicies, parsed.data?.exceptions ?? [], registry));

  const policies: Record<string, ResolvedPolicySettings> = {};
  for (const [id, policy] of registry) {
    const settings = parsed.data?.policies[id];
    const given = isRecord(rawPolicies[id]) ? rawPolicies[id].params : undefined;
    const params = policy.params.safeParse(given ?? {}, { reportInput: true });
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
  if (!parsed.success || issues.length > 0) throw new ConfigError(source, [...new Set(issues)]);
  const { excludedNamespaces, exceptions } = parsed.data;
  return { excludedNamespaces, policies, exceptions };
}

function unknownPolicies(
  policies: Record<string, unknown>,
  exceptions: readonly PolicyException[],
  registry: ReadonlyMap<string, Policy>,
): string[] {
  const known = [...registry.keys()].join(', ');
  const issues = Object.keys(policies)
    .filter((id) => !registry.has(id))
    .map((id) => `policies.${id}: unknown policy (known: ${known})`);
  exceptions.forEach((e, i) => {
    for (const id of e.policies.filter((p) => !registry.has(p))) {
      issues.push(`exceptions.${i}.policies: unknown policy "${id}"`);
    }
  });
  return issues;
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
  // An empty document is refused rather than read as "all defaults": the built-in defaults put
  // every policy in enforce, so a ConfigMap emptied by mistake (or a sync that truncates the
  // file) would otherwise switch a cluster running in audit to enforcing everything at once.
  if (doc === null || doc === undefined) {
    throw new ConfigError(source, [
      '(top level): the file is empty; write the config as a YAML mapping (`{}` for the ' +
        'built-in defaults, which enforce every policy), or start without a config file',
    ]);
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
