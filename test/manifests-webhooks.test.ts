/**
 * Invariants of the webhook configurations phi-guard ships, and their rules compared with what
 * the built-in policies match: every kind, operation and subresource a policy judges reaches it,
 * and nothing else is sent to phi-guard.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicies } from '../src/engine/registry.js';
import type { Operation, Policy } from '../src/engine/policy.js';
import { OVERLAYS, render, type RenderedObject } from './fixtures/kustomize.js';

const EXCLUDED = ['kube-system', 'kube-public', 'kube-node-lease', 'phi-guard'];
const WEBHOOK_KINDS = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];

interface Rule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
  scope?: string;
}
interface Webhook {
  name: string;
  clientConfig: {
    service?: { name: string; namespace: string; path: string; port?: number };
    caBundle?: string;
  };
  rules: Rule[];
  namespaceSelector?: {
    matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
  };
  sideEffects?: string;
  admissionReviewVersions?: string[];
  timeoutSeconds?: number;
  failurePolicy?: string;
  matchPolicy?: string;
  reinvocationPolicy?: string;
  matchConditions?: Array<{ name: string; expression: string }>;
}

// Kind → [API group, resource] for every kind the built-in policies name. A policy naming a kind
// missing here fails the coverage test, which is the reminder to add it to the webhook rules.
const RESOURCE_OF: Record<string, [string, string]> = {
  Pod: ['', 'pods'],
  PodTemplate: ['', 'podtemplates'],
  ReplicationController: ['', 'replicationcontrollers'],
  PersistentVolumeClaim: ['', 'persistentvolumeclaims'],
  Service: ['', 'services'],
  ConfigMap: ['', 'configmaps'],
  Secret: ['', 'secrets'],
  Deployment: ['apps', 'deployments'],
  StatefulSet: ['apps', 'statefulsets'],
  DaemonSet: ['apps', 'daemonsets'],
  ReplicaSet: ['apps', 'replicasets'],
  Job: ['batch', 'jobs'],
  CronJob: ['batch', 'cronjobs'],
  Ingress: ['networking.k8s.io', 'ingresses'],
  StorageClass: ['storage.k8s.io', 'storageclasses'],
  '*': ['*', '*'],
};

// The subresources policies name: the resources that have them (`*` for any resource, custom
// ones included) and the one operation their requests arrive as
// (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/).
const SUBRESOURCES: Record<string, { of: Array<[string, string]>; operation: Operation }> = {
  ephemeralcontainers: { of: [['', 'pods']], operation: 'UPDATE' },
  resize: { of: [['', 'pods']], operation: 'UPDATE' },
  exec: { of: [['', 'pods']], operation: 'CONNECT' },
  attach: { of: [['', 'pods']], operation: 'CONNECT' },
  portforward: { of: [['', 'pods']], operation: 'CONNECT' },
  scale: { of: [['*', '*']], operation: 'UPDATE' },
};

/** One (group, resource or resource/subresource, operation) the API server may send. */
type Need = [group: string, resource: string, operation: string];

// Kinds a policy matches but never patches, so the mutating webhook need not receive them:
// encrypted-storage's mutate fills in storageClassName of claims; StorageClasses it only judges.
const NOT_MUTATED: Record<string, string[]> = { 'encrypted-storage': ['StorageClass'] };

/** What a policy needs to receive: its kinds × operations, plus its subresources. */
function needsOf(policy: Policy, webhook: 'mutate' | 'validate'): Need[] {
  const operations = (policy.match.operations ?? ['CREATE', 'UPDATE']).filter(
    (op) => webhook === 'validate' || op === 'CREATE' || op === 'UPDATE',
  );
  const skipped = webhook === 'mutate' ? (NOT_MUTATED[policy.id] ?? []) : [];
  return policy.match.kinds
    .filter((k) => !skipped.includes(k))
    .flatMap((kind) => {
      const gr = RESOURCE_OF[kind];
      if (!gr)
        throw new Error(
          `policy ${policy.id} matches kind ${kind}: add it to RESOURCE_OF and the webhooks`,
        );
      const main = operations.filter((op) => op !== 'CONNECT').map((op): Need => [...gr, op]);
      return [...main, ...subresourceNeeds(policy, gr, operations)];
    });
}

function subresourceNeeds(
  policy: Policy,
  [group, resource]: [string, string],
  operations: Operation[],
): Need[] {
  return (policy.match.subResources ?? []).flatMap((sub): Need[] => {
    const s = SUBRESOURCES[sub];
    if (!s) throw new Error(`policy ${policy.id}: subresource ${sub} is missing from SUBRESOURCES`);
    if (!operations.includes(s.operation)) return [];
    // A policy of every kind (`*`) needs the subresource wherever it exists; a policy of one kind
    // only where that kind has it.
    const has = s.of.some(([g, r]) => r === '*' || (g === group && r === resource));
    const owners: Array<[string, string]> =
      resource === '*' ? s.of : has ? [[group, resource]] : [];
    return owners.map(([g, r]): Need => [g, `${r}/${sub}`, s.operation]);
  });
}

function covers(rule: Rule, [group, resource, operation]: Need): boolean {
  const sub = resource.split('/')[1];
  const resourceOk = rule.resources.some(
    (r) => r === resource || (sub === undefined ? r === '*' : r === `*/${sub}`),
  );
  const groupOk = rule.apiGroups.includes('*') || rule.apiGroups.includes(group);
  return (
    resourceOk && groupOk && (rule.operations.includes(operation) || rule.operations.includes('*'))
  );
}

/** True for a webhook sent requests from every namespace but the excluded ones. */
function clusterWide(w: Webhook): boolean {
  const expressions = w.namespaceSelector?.matchExpressions ?? [];
  return expressions.length === 1 && w.matchConditions === undefined;
}

/** The (group, resource, operation) triples a rule lists, wildcards kept. */
function triplesOf(rule: Rule): Need[] {
  return rule.apiGroups.flatMap((g) =>
    rule.resources.flatMap((r) => rule.operations.map((op): Need => [g, r, op])),
  );
}

function ruleOf([group, resource, operation]: Need): Rule {
  return { apiGroups: [group], apiVersions: ['*'], resources: [resource], operations: [operation] };
}

function webhooksIn(objects: RenderedObject[], kind: string): Webhook[] {
  return objects
    .filter((o) => o.kind === kind)
    .flatMap((o) => (o as unknown as { webhooks: Webhook[] }).webhooks);
}

const renderings = OVERLAYS.filter((o) => o !== 'monitoring').map(
  (o) => [o, render(`overlays/${o}`)] as const,
);
const allWebhooks = renderings.flatMap(([overlay, objects]) =>
  WEBHOOK_KINDS.flatMap((kind) =>
    webhooksIn(objects, kind).map((w) => [overlay, kind, w.name, w] as const),
  ),
);

describe('webhook configuration invariants', () => {
  it.each(allWebhooks)(
    '%s %s %s: excludes kube-system, kube-public, kube-node-lease, phi-guard',
    (_o, _k, _n, w) => {
      const names = w.namespaceSelector?.matchExpressions?.find(
        (e) => e.key === 'kubernetes.io/metadata.name',
      );
      expect(names?.operator).toBe('NotIn');
      expect(names?.values).toEqual(expect.arrayContaining(EXCLUDED));
    },
  );

  it.each(allWebhooks)(
    '%s %s %s: sideEffects None, v1 reviews, explicit timeout and policies',
    (_o, kind, _n, w) => {
      expect(w.sideEffects).toBe('None');
      expect(w.admissionReviewVersions).toEqual(['v1']);
      expect(w.timeoutSeconds).toBeGreaterThanOrEqual(1);
      expect(w.timeoutSeconds).toBeLessThanOrEqual(10);
      expect(w.failurePolicy).toBe('Fail');
      expect(w.matchPolicy).toBe('Equivalent');
      if (kind === 'MutatingWebhookConfiguration') expect(w.reinvocationPolicy).toBe('IfNeeded');
    },
  );

  it.each(allWebhooks)(
    '%s %s %s: calls the phi-guard Service on 443 at the right path',
    (_o, kind, _n, w) => {
      const path = kind === 'MutatingWebhookConfiguration' ? '/mutate' : '/validate';
      expect(w.clientConfig.service).toEqual({
        name: 'phi-guard',
        namespace: 'phi-guard',
        path,
        port: 443,
      });
    },
  );

  it.each(allWebhooks)('%s %s %s: never polices status subresources', (_o, _k, _n, w) => {
    const resources = w.rules.flatMap((r) => r.resources);
    expect(resources.filter((r) => r.endsWith('/status') || r === '*/*')).toEqual([]);
  });

  it.each(renderings)('%s: webhook names are unique', (_overlay, objects) => {
    const names = WEBHOOK_KINDS.flatMap((k) => webhooksIn(objects, k).map((w) => w.name));
    expect(new Set(names).size).toBe(names.length);
  });

  it('cert-manager: both configurations get their caBundle from the serving Certificate', () => {
    const objects = render('overlays/cert-manager');
    for (const kind of WEBHOOK_KINDS) {
      const config = objects.find((o) => o.kind === kind)!;
      const annotations = config.metadata.annotations as Record<string, string> | undefined;
      expect(annotations?.['cert-manager.io/inject-ca-from'], kind).toBe(
        'phi-guard/phi-guard-serving',
      );
    }
    expect(
      objects.some((o) => o.kind === 'Certificate' && o.metadata.name === 'phi-guard-serving'),
    ).toBe(true);
  });
});

describe('the GitOps webhook never receives what the main validating webhook receives', () => {
  const [, objects] = renderings[0]!;
  const [main, gitops] = webhooksIn(objects, 'ValidatingWebhookConfiguration');

  it('its matchCondition lists exactly the main webhook CREATE/UPDATE namespaced resources', () => {
    const condition = gitops!.matchConditions?.find(
      (c) => c.name === 'not-sent-to-validate-webhook',
    );
    const listed = [
      ...(condition?.expression.split('in [').at(-1) ?? '').matchAll(/'([^']*)'/g),
    ].map((m) => m[1]);
    const sent = main!.rules
      .filter(
        (r) =>
          r.scope === 'Namespaced' && r.operations.some((op) => op === 'CREATE' || op === 'UPDATE'),
      )
      .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`)));
    expect(new Set(listed)).toEqual(new Set(sent));
    expect(condition?.expression).toMatch(/request\.operation in \['CREATE', 'UPDATE'\]/);
  });
});

describe('webhook rules match the built-in policies', () => {
  let policies: Policy[] = [];
  beforeAll(async () => {
    policies = [...(await loadPolicies()).values()];
  });

  const configs = [
    ['MutatingWebhookConfiguration', 'mutate'],
    ['ValidatingWebhookConfiguration', 'validate'],
  ] as const;
  const judging = (webhook: 'mutate' | 'validate'): Policy[] =>
    policies.filter((p) => (webhook === 'mutate' ? p.mutate : p.validate || p.observe));

  // A policy of some kinds must hear from every namespace, so only the cluster-wide webhooks count
  // for it. A policy of every kind (`*`) may be scoped by a webhook: gitops-only acts in the
  // GitOps-managed namespaces alone, no-plaintext-credentials reads every kind's annotations
  // only there (see the Known limitation in validating-webhook.yaml).
  it.each(configs)(
    '%s receives every kind, operation and subresource its policies judge',
    (kind, webhook) => {
      const webhooks = webhooksIn(render('overlays/self-managed'), kind);
      const wide = webhooks.filter(clusterWide).flatMap((w) => w.rules);
      const any = webhooks.flatMap((w) => w.rules);
      const missing = judging(webhook).flatMap((p) =>
        needsOf(p, webhook)
          .filter(
            (need) => !(p.match.kinds.includes('*') ? any : wide).some((r) => covers(r, need)),
          )
          .map((need) => `${p.id}: ${need.join(' ')}`),
      );
      expect(missing).toEqual([]);
    },
  );

  it.each(configs)('%s sends nothing that no policy judges', (kind, webhook) => {
    const rules = webhooksIn(render('overlays/self-managed'), kind).flatMap((w) => w.rules);
    const needs = judging(webhook).flatMap((p) => needsOf(p, webhook));
    const unused = rules
      .flatMap(triplesOf)
      .filter(([g, res, op]) => {
        const only = ruleOf([g, res, op]);
        // A rule is used when it serves a need, or when a policy of every kind (`*`) needs it.
        return !needs.some((n) => covers(only, n) || covers(ruleOf(n), [g, res, op]));
      })
      .map((t) => t.join(' '));
    expect(unused).toEqual([]);
  });
});
