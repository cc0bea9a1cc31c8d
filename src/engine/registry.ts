/**
 * The policy registry: every module in `policies/` is a policy, found at start-up, so that a new
 * policy is one new file. The registry refuses malformed or duplicate policies and names the file.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { MODES, type Policy } from './policy.js';

const ID = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Folder of the built-in policies, beside `src/` both in the sources and in `dist/`. */
export const POLICY_DIR = fileURLToPath(new URL('../../policies/', import.meta.url));

/** Checks one policy's declaration; throws an Error naming the source and the bad field. */
export function checkPolicy(policy: unknown, source: string): Policy {
  const p = policy as Partial<Policy> | undefined;
  const fail = (what: string): never => {
    throw new Error(`policy module ${source}: ${what}`);
  };
  if (typeof p !== 'object' || p === null) return fail('has no default export of a policy');
  if (typeof p.id !== 'string' || !ID.test(p.id))
    fail(`id ${JSON.stringify(p.id)} is not kebab-case`);
  if (typeof p.title !== 'string' || p.title === '') fail('title is missing');
  if (!Array.isArray(p.hipaa) || p.hipaa.length === 0) fail('hipaa lists no control');
  if (!p.match || !Array.isArray(p.match.kinds) || p.match.kinds.length === 0)
    fail('match.kinds is empty');
  if (!MODES.includes(p.defaultMode as never))
    fail(`defaultMode must be one of ${MODES.join(', ')}`);
  if (typeof p.params?.safeParse !== 'function') fail('params is not a schema');
  if (!p.mutate && !p.validate) fail('has neither mutate nor validate');
  if (!p.params!.safeParse({}).success)
    fail('params schema must accept {} (give every field a default)');
  return p as Policy;
}

/** Builds a registry from policies, refusing duplicate ids. */
export function registryOf(policies: readonly Policy[]): ReadonlyMap<string, Policy> {
  const byId = new Map<string, Policy>();
  for (const p of policies) {
    if (byId.has(p.id)) throw new Error(`policy id "${p.id}" is declared twice`);
    byId.set(p.id, p);
  }
  return byId;
}

/** Loads every policy module in `dir` (`.js` when built, `.ts` under the test runner). */
export async function loadPolicies(dir: string = POLICY_DIR): Promise<ReadonlyMap<string, Policy>> {
  const files = readdirSync(dir)
    .filter((f) => /\.(js|ts)$/.test(f) && !/\.(d|test)\.ts$/.test(f) && !f.startsWith('_'))
    .sort();
  const policies: Policy[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default?: unknown };
    policies.push(checkPolicy(mod.default, file));
  }
  return registryOf(policies);
}
