/**
 * workload-metadata: every workload says who owns it and what data it holds, and reserves the
 * CPU and memory it needs.
 *
 * Labels (`requiredLabels`, default `owner` and `data-classification`) must be present and
 * non-empty on Pods and pod controllers (Deployment, StatefulSet, DaemonSet, ReplicaSet,
 * ReplicationController, Job, CronJob, PodTemplate) — on the object's own `metadata.labels`,
 * which inventories and cost reports read, and on its pod template's labels, which every Pod
 * it creates carries. `allowedValues` restricts a label's values wherever it appears (default:
 * `data-classification` one of phi, pii, confidential, internal, public). Services, PVCs and
 * other kinds are not judged: they belong to a workload that is.
 *
 * Resources (`resources`): each container and init container (restartable sidecars included)
 * sets a CPU request, a memory request and a memory limit (a CPU limit only when `cpuLimit` is
 * on). A request may come from the limit of the same resource, because the API server copies a
 * limit into a missing request when it creates the Pod (pkg/apis/core/v1/defaults.go,
 * SetDefaults_Pod); a value set in the pod-level `spec.resources` (KEP-2837) counts for every
 * container. Ephemeral containers are exempt: the API forbids resources on them.
 *
 * Exempt: Pods, ReplicaSets and Jobs that a built-in controller creates from a template this
 * policy already judged — an object whose controlling ownerReference is a built-in pod
 * controller, in a request made by the kube-controller-manager's own identity (`userInfo`,
 * never the object, decides). Judging them again would only fail where the template predates
 * phi-guard, and then silently: the controller, not a person, would receive the denial, and a
 * Deployment would stop creating Pods with no message on `kubectl apply`. Pods created by
 * anyone else, including operators of custom resources, are judged.
 *
 * HIPAA: 164.308(a)(1)(ii)(A) risk analysis (an inventory of systems that hold ePHI and who
 * owns them); resource reservations support 164.308(a)(7) contingency planning.
 */
import { z } from 'zod';
import { definePolicy, type Finding, type PolicyContext } from '../src/engine/policy.js';
import { getIn, isRecord, toFieldPath, type Segment } from '../src/engine/paths.js';
import {
  containersOf,
  podSpecOf,
  POD_KINDS,
  POD_TEMPLATE_ROOTS,
  type ContainerView,
  type PodSpecView,
} from '../src/engine/pod-spec.js';

const LABEL_KEY =
  /^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelKey = z
  .string()
  .regex(LABEL_KEY, 'must be a label key such as "owner" or "example.com/team"');

const DEFAULT_CLASSIFICATIONS = ['phi', 'pii', 'confidential', 'internal', 'public'];
const DEFAULT_RESOURCES = {
  cpuRequest: true,
  memoryRequest: true,
  memoryLimit: true,
  cpuLimit: false,
};

const params = z
  .object({
    requiredLabels: z.array(labelKey).default(['owner', 'data-classification']),
    allowedValues: z
      .record(labelKey, z.array(z.string()).min(1, 'list at least one value'))
      .default({ 'data-classification': DEFAULT_CLASSIFICATIONS }),
    resources: z
      .object({
        cpuRequest: z.boolean().default(true),
        memoryRequest: z.boolean().default(true),
        memoryLimit: z.boolean().default(true),
        cpuLimit: z.boolean().default(false),
      })
      .strict()
      .default(DEFAULT_RESOURCES),
  })
  .strict();

type Params = z.infer<typeof params>;

/** One resource setting a container must carry: where it lives and how messages name it. */
interface ResourceRule {
  key: keyof Params['resources'];
  section: 'requests' | 'limits';
  resource: 'cpu' | 'memory';
  what: string;
  example: string;
}

const RESOURCE_RULES: readonly ResourceRule[] = [
  { key: 'cpuRequest', section: 'requests', resource: 'cpu', what: 'CPU request', example: '100m' },
  {
    key: 'memoryRequest',
    section: 'requests',
    resource: 'memory',
    what: 'memory request',
    example: '128Mi',
  },
  {
    key: 'memoryLimit',
    section: 'limits',
    resource: 'memory',
    what: 'memory limit',
    example: '256Mi',
  },
  { key: 'cpuLimit', section: 'limits', resource: 'cpu', what: 'CPU limit', example: '500m' },
];

// The identities kube-controller-manager uses: one service account per controller with
// --use-service-account-credentials (the kubeadm default), or its own user otherwise.
const BUILTIN_CONTROLLER_USERS: ReadonlySet<string> = new Set([
  'system:kube-controller-manager',
  ...['replicaset', 'replication', 'deployment', 'statefulset', 'daemon-set', 'job', 'cronjob'].map(
    (c) => `system:serviceaccount:kube-system:${c}-controller`,
  ),
]);

// Built-in owners whose templates this policy judges, by kind, with their API group/version.
const BUILTIN_OWNERS: Readonly<Record<string, string>> = {
  Deployment: 'apps/v1',
  ReplicaSet: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ReplicationController: 'v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
};

export default definePolicy({
  id: 'workload-metadata',
  title: 'Owner and data-classification labels, CPU and memory reservations',
  hipaa: ['164.308(a)(1)(ii)(A)'],
  match: { kinds: POD_KINDS },
  params,
  defaultMode: 'enforce',
  validate(ctx) {
    const view = podSpecOf(ctx.kind, ctx.object);
    if (!view || createdByBuiltinController(ctx)) return [];
    return [...labelFindings(ctx, view), ...resourceFindings(view, ctx.params.resources)];
  },
});

function createdByBuiltinController(ctx: PolicyContext<Params>): boolean {
  if (!BUILTIN_CONTROLLER_USERS.has(ctx.userInfo.username)) return false;
  const owners = getIn(ctx.object, ['metadata', 'ownerReferences']);
  if (!Array.isArray(owners)) return false;
  return owners.some(
    (o: unknown) =>
      isRecord(o) &&
      o.controller === true &&
      typeof o.kind === 'string' &&
      BUILTIN_OWNERS[o.kind] !== undefined &&
      o.apiVersion === BUILTIN_OWNERS[o.kind],
  );
}

function labelFindings(ctx: PolicyContext<Params>, view: PodSpecView): Finding[] {
  const findings = labelsAt(
    ctx.params,
    ['metadata'],
    getIn(ctx.object, ['metadata', 'labels']),
    ctx.kind,
  );
  if ((POD_TEMPLATE_ROOTS[ctx.kind] ?? []).length > 0) {
    findings.push(...labelsAt(ctx.params, view.metaPath, view.meta.labels, 'pod template'));
  }
  return findings;
}

function labelsAt(p: Params, metaPath: Segment[], labels: unknown, owner: string): Finding[] {
  const present = isRecord(labels) ? labels : {};
  const findings: Finding[] = [];
  for (const key of p.requiredLabels) {
    const value = present[key];
    if (typeof value === 'string' && value !== '') continue;
    const allowed = p.allowedValues[key];
    const given = value !== undefined && value !== null;
    const action = given ? `set the label ${key} to` : `add the label ${key} with`;
    const what = !given ? 'no label' : value === '' ? 'an empty label' : 'a non-string label';
    findings.push({
      reason: 'missingLabel',
      path: toFieldPath([...metaPath, 'labels', key]),
      message: `${owner} has ${what} "${key}"`,
      fix: allowed ? `${action} one of: ${allowed.join(', ')}` : `${action} a non-empty value`,
    });
  }
  for (const [key, allowed] of Object.entries(p.allowedValues)) {
    const value = present[key];
    if (
      value === undefined ||
      (typeof value === 'string' && (value === '' || allowed.includes(value)))
    )
      continue;
    findings.push({
      reason: 'labelValue',
      path: toFieldPath([...metaPath, 'labels', key]),
      message: `${owner} label "${key}" is ${JSON.stringify(value)}, which is not an allowed value`,
      fix: `set ${key} to one of: ${allowed.join(', ')}`,
    });
  }
  return findings;
}

function resourceFindings(view: PodSpecView, wanted: Params['resources']): Finding[] {
  const rules = RESOURCE_RULES.filter((r) => wanted[r.key] && !podLevel(view, r));
  const findings: Finding[] = [];
  for (const c of containersOf(view, ['initContainers', 'containers'])) {
    const who = `${c.list === 'initContainers' ? 'init container' : 'container'} "${c.name}"`;
    for (const rule of rules) {
      if (hasQuantity(c, rule)) continue;
      findings.push({
        reason: rule.key,
        path: toFieldPath([...c.path, 'resources', rule.section, rule.resource]),
        message: `${who} sets no ${rule.what}`,
        fix: `set resources.${rule.section}.${rule.resource} (e.g. ${rule.example}) on it`,
      });
    }
  }
  return findings;
}

function hasQuantity(c: ContainerView, rule: ResourceRule): boolean {
  const resources = c.container.resources;
  if (isQuantity(getIn(resources, [rule.section, rule.resource]))) return true;
  return rule.section === 'requests' && isQuantity(getIn(resources, ['limits', rule.resource]));
}

function podLevel(view: PodSpecView, rule: ResourceRule): boolean {
  const resources = view.spec.resources;
  if (isQuantity(getIn(resources, [rule.section, rule.resource]))) return true;
  return rule.section === 'requests' && isQuantity(getIn(resources, ['limits', rule.resource]));
}

function isQuantity(value: unknown): boolean {
  return (typeof value === 'string' && value.trim() !== '') || typeof value === 'number';
}
