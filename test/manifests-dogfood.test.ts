/**
 * phi-guard's own manifests pass phi-guard's own policies, and the shipped policy config is valid
 * and agrees with the webhook configurations.
 *
 * The manifests are judged by the built CLI (`phi-guard check`, as a platform team would run it
 * in CI) with the shipped config made as strict as it gets: every policy in enforce mode and no
 * namespace excluded. The shipped config excludes phi-guard's own namespace, which would
 * otherwise make the check pass without judging anything.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { loadPolicies } from '../src/engine/registry.js';
import type { Policy } from '../src/engine/policy.js';
import {
  MANIFESTS_DIR,
  OVERLAYS,
  REPO_ROOT,
  render,
  type RenderedObject,
} from './fixtures/kustomize.js';

const CLI = join(REPO_ROOT, 'dist/src/cli.js');
const SHIPPED_CONFIG = join(MANIFESTS_DIR, 'base/config.yaml');

interface CheckedObject {
  kind: string;
  name: string;
  allowed: boolean;
  denials: unknown[];
  warnings: unknown[];
  patched: unknown[];
}
interface CheckRun {
  status: number | null;
  objects: CheckedObject[];
  stderr: string;
}

let workDir = '';
let strictConfig = '';

/** The shipped config with every policy at enforce and no namespace excluded. */
function writeStrictConfig(dir: string): string {
  const doc = parse(readFileSync(SHIPPED_CONFIG, 'utf8')) as {
    excludedNamespaces: string[];
    policies: Record<string, { mode?: string }>;
  };
  doc.excludedNamespaces = [];
  for (const settings of Object.values(doc.policies)) settings.mode = 'enforce';
  const file = join(dir, 'strict-config.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

function check(name: string, objects: RenderedObject[]): CheckRun {
  const file = join(workDir, `${name}.yaml`);
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  const run = spawnSync(
    process.execPath,
    [CLI, 'check', '--config', strictConfig, '-o', 'json', file],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  const report = run.stdout
    ? (JSON.parse(run.stdout) as { files: Array<{ objects: CheckedObject[] }> })
    : undefined;
  return {
    status: run.status,
    objects: report?.files.flatMap((f) => f.objects) ?? [],
    stderr: run.stderr,
  };
}

const cliBuilt = existsSync(CLI);
if (!cliBuilt)
  console.warn(
    `manifests-dogfood: ${CLI} is missing (run "npm run build"); skipping the check runs`,
  );

describe.skipIf(!cliBuilt)(
  'phi-guard check passes its own manifests (every policy enforced)',
  () => {
    beforeAll(() => {
      workDir = mkdtempSync(join(tmpdir(), 'phi-guard-dogfood-'));
      strictConfig = writeStrictConfig(workDir);
    });
    afterAll(() => rmSync(workDir, { recursive: true, force: true }));

    it.each(OVERLAYS)('overlay %s: no denial, no warning, nothing to patch', (overlay) => {
      const objects = render(`overlays/${overlay}`);
      const run = check(overlay, objects);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.objects).toHaveLength(objects.length);
      const findings = run.objects.filter(
        (o) => !o.allowed || o.denials.length + o.warnings.length + o.patched.length > 0,
      );
      expect(findings).toEqual([]);
    });

    // The same run must fail when the Deployment breaks policy, or the test above proves nothing.
    // (Breaks that the mutating webhook would repair, such as a missing securityContext, are
    // patched rather than denied; the test above also asserts that nothing needs a patch.)
    it.each([
      [
        'the container runs as root',
        'pod-security',
        (c: Record<string, unknown>): void => {
          c.securityContext = { ...(c.securityContext as object), runAsUser: 0 };
        },
      ],
      [
        'the image is tagged latest',
        'trusted-images',
        (c: Record<string, unknown>): void => {
          c.image = 'ghcr.io/phi-guard/phi-guard:latest';
        },
      ],
      [
        'the container sets no memory limit',
        'workload-metadata',
        (c: Record<string, unknown>): void => {
          c.resources = { requests: { cpu: '100m', memory: '128Mi' } };
        },
      ],
    ] as const)('a Deployment where %s is denied by %s', (_state, policy, breakIt) => {
      const objects = render('overlays/cert-manager');
      const deployment = objects.find((o) => o.kind === 'Deployment')!;
      const spec = (
        deployment.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }
      ).template.spec;
      breakIt(spec.containers[0]!);
      const run = check(`broken-${policy}`, objects);
      expect(run.status).toBe(1);
      const denied = run.objects.find((o) => o.kind === 'Deployment');
      expect(JSON.stringify(denied?.denials)).toContain(`[${policy}]`);
    });
  },
);

describe('the shipped policy config', () => {
  let policies: ReadonlyMap<string, Policy>;
  let shipped: { policies: Record<string, { mode?: string; params?: Record<string, unknown> }> };
  beforeAll(async () => {
    policies = await loadPolicies();
    shipped = parse(readFileSync(SHIPPED_CONFIG, 'utf8')) as typeof shipped;
  });

  it('loads without error', () => {
    expect(() => loadConfig(SHIPPED_CONFIG, policies)).not.toThrow();
  });

  it('names every built-in policy with an explicit mode (audit: installing changes nothing)', () => {
    expect(Object.keys(shipped.policies).sort()).toEqual([...policies.keys()].sort());
    for (const [id, settings] of Object.entries(shipped.policies))
      expect(settings.mode, id).toBe('audit');
  });

  // The file says its values are the defaults unless a comment says otherwise; these are the
  // commented departures.
  const NOT_DEFAULT: Record<string, string[]> = { 'trusted-images': ['allowedRegistries'] };

  it("writes out every policy's parameters at their defaults, departures aside", () => {
    for (const [id, policy] of policies) {
      const shippedParams = policy.params.parse(shipped.policies[id]?.params ?? {}) as Record<
        string,
        unknown
      >;
      const defaults = policy.params.parse({}) as Record<string, unknown>;
      for (const key of NOT_DEFAULT[id] ?? []) {
        expect(shippedParams[key], `${id}.${key}`).not.toEqual(defaults[key]);
        delete shippedParams[key];
        delete defaults[key];
      }
      expect(shippedParams, id).toEqual(defaults);
      // Every parameter is written out, so that the file documents them all.
      const written = Object.keys(shipped.policies[id]?.params ?? {}).sort();
      expect(written, id).toEqual(Object.keys(policy.params.parse({}) as object).sort());
    }
  });

  it('excludes the namespaces the webhook configurations exclude', () => {
    const config = loadConfig(SHIPPED_CONFIG, policies);
    const webhooks = render('base').filter((o) => o.kind.endsWith('WebhookConfiguration'));
    for (const w of webhooks.flatMap((o) => o.webhooks as Array<{ namespaceSelector: Selector }>)) {
      expect(excludedBy(w.namespaceSelector).sort()).toEqual([...config.excludedNamespaces].sort());
    }
  });

  it("gitops-only's namespaceLabel is what the GitOps webhook selects", () => {
    const label = String(shipped.policies['gitops-only']?.params?.namespaceLabel);
    const [key, value] = label.split('=');
    const gitops = gitopsWebhook();
    expect(gitops.namespaceSelector.matchExpressions).toContainEqual({
      key,
      operator: 'In',
      values: [value],
    });
  });

  it("gitops-only's ignoredKinds are what the GitOps webhook skips", () => {
    const kinds = shipped.policies['gitops-only']?.params?.ignoredKinds as string[];
    const skip = gitopsWebhook().matchConditions.find(
      (c) => c.name === 'not-ignored-by-gitops-only',
    )!;
    const resources = [...skip.expression.matchAll(/resource\.resource == '([a-z]+)'/g)].map(
      (m) => m[1],
    );
    expect(resources.sort()).toEqual(kinds.map((k) => `${k.toLowerCase()}s`).sort());
  });
});

interface Selector {
  matchExpressions: Array<{ key: string; operator: string; values?: string[] }>;
}

function excludedBy(selector: Selector): string[] {
  const names = selector.matchExpressions.find((e) => e.key === 'kubernetes.io/metadata.name');
  return names?.operator === 'NotIn' ? (names.values ?? []) : [];
}

function gitopsWebhook(): {
  namespaceSelector: Selector;
  matchConditions: Array<{ name: string; expression: string }>;
} {
  const config = render('base').find((o) => o.kind === 'ValidatingWebhookConfiguration')!;
  const webhooks = config.webhooks as Array<{
    name: string;
    namespaceSelector: Selector;
    matchConditions: Array<{ name: string; expression: string }>;
  }>;
  return webhooks.find((w) => w.name === 'gitops.validate.phi-guard.io')!;
}
