/**
 * gitops-only: in GitOps-managed namespaces, changes come from Git and nobody opens a shell.
 *
 * - Which namespaces: those matching `namespaces` (globs, default none) or carrying
 *   `namespaceLabel` (default `phi-guard.io/gitops-managed=true`; `key` alone means "has the
 *   key"; `''` turns label matching off). For a Namespace object itself, its labels before the
 *   request count, so that nobody outside GitOps can remove the label to escape the policy.
 * - Which requests: CREATE, UPDATE and DELETE of every kind (also the `scale`, `resize` and
 *   `ephemeralcontainers` subresources: `kubectl scale`, in-place resize, `kubectl debug`), and
 *   CONNECT to `pods/exec`, `pods/attach` and `pods/portforward`. Status subresources never
 *   reach a policy. Kinds in `ignoredKinds` are skipped: Events and Leases are written by every
 *   running controller and by applications themselves (leader election), and record no desired
 *   state.
 * - Who may change: `gitopsIdentities` (default Argo CD's application controller, Flux's
 *   kustomize- and helm-controller) and `systemIdentities` (kube-controller-manager and the
 *   service accounts of kube-system, the scheduler, nodes, cert-manager, external-secrets; see
 *   src/engine/identity.ts). Nobody gets CONNECT: controllers do not need a shell in PHI pods.
 * - Break-glass: a member of a `breakGlassGroups` group (default `phi-guard:break-glass`) may
 *   do all of it; each such request yields a `break-glass` notice that the admission layer logs
 *   at warn level, counts and copies into the audit annotations. Dry runs are judged alike; the
 *   admission layer does not alarm on them.
 * - Identity comes from `userInfo` only. A violation is about who acts, not about the object,
 *   so it is denied on UPDATE even when the old object looked the same.
 * - Known limitation: the label is read from the namespace cache (ClusterLookup); where no cache
 *   runs (`phi-guard check`) or it does not know the namespace yet, only `namespaces` applies.
 * - Known limitation: operators that write objects in managed namespaces (Argo Rollouts, KEDA,
 *   Tekton...) and applications that create objects through their own service account must be
 *   added to `systemIdentities`, because they are neither Git nor the cluster's own controllers.
 *
 * HIPAA Security Rule: 164.312(c)(1) integrity, 164.312(b) audit controls, 164.312(a)(1) access
 * control.
 */
import { z } from 'zod';
import { definePolicy } from '../src/engine/policy.js';
import type { Finding, Notice, PolicyContext } from '../src/engine/policy.js';
import { matchesAny } from '../src/engine/glob.js';
import { getIn, isRecord } from '../src/engine/paths.js';
import {
  DEFAULT_GITOPS_IDENTITIES,
  DEFAULT_SYSTEM_IDENTITIES,
  describeUser,
  groupList,
  identitySelector,
  matchesIdentity,
  matchingGroup,
} from '../src/engine/identity.js';
import { labelsMatch, namespaceLabelParam } from '../src/engine/namespace-selector.js';

const params = z
  .object({
    /** Namespaces (globs) that are GitOps-managed whatever their labels. */
    namespaces: z.array(z.string().min(1)).default([]),
    /** Namespace label marking a GitOps-managed namespace: `key=value` or `key`. */
    namespaceLabel: namespaceLabelParam('phi-guard.io/gitops-managed=true'),
    /** Identities that sync from Git. */
    gitopsIdentities: identitySelector(DEFAULT_GITOPS_IDENTITIES),
    /** The cluster's own controllers and other trusted operators. */
    systemIdentities: identitySelector(DEFAULT_SYSTEM_IDENTITIES),
    /** Groups whose members may act in an emergency, on the record. */
    breakGlassGroups: groupList(['phi-guard:break-glass']),
    /** Kinds never judged (written continuously by running software, no desired state). */
    ignoredKinds: z
      .array(z.string().min(1))
      .default(['Event', 'Lease', 'LocalSubjectAccessReview']),
  })
  .strict();

type Params = z.infer<typeof params>;
type Ctx = PolicyContext<Params>;

const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

/** What gitops-only makes of a request. */
type Verdict =
  | { kind: 'out-of-scope' }
  | { kind: 'trusted' }
  | { kind: 'break-glass'; namespace: string; group: string }
  | { kind: 'denied'; namespace: string };

function labelsOf(object: unknown): Record<string, string> | undefined {
  const labels = getIn(object, ['metadata', 'labels']);
  return isRecord(labels) ? (labels as Record<string, string>) : undefined;
}

/**
 * The GitOps-managed namespace this request acts in, or undefined. Namespace objects are
 * judged by their own name (the API server also sends it as the request namespace, kubernetes
 * kubernetes/kubernetes#95012) and by their labels before the request.
 */
function managedNamespace(ctx: Ctx): string | undefined {
  const isNamespace = ctx.kind === 'Namespace' && ctx.group === '';
  const namespace = isNamespace ? ctx.namespace || ctx.name : ctx.namespace;
  if (namespace === '') return undefined;
  const { namespaces, namespaceLabel } = ctx.params;
  if (matchesAny(namespaces, namespace)) return namespace;
  if (namespaceLabel === '') return undefined;
  const labels = isNamespace ? labelsOf(ctx.oldObject) : ctx.cluster.namespaceLabels(namespace);
  return labelsMatch(labels, namespaceLabel) ? namespace : undefined;
}

function judge(ctx: Ctx): Verdict {
  const connect = ctx.operation === 'CONNECT';
  if (connect && !CONNECT_SUBRESOURCES.has(ctx.subResource)) return { kind: 'out-of-scope' };
  if (!connect && ctx.params.ignoredKinds.includes(ctx.kind)) return { kind: 'out-of-scope' };
  const namespace = managedNamespace(ctx);
  if (namespace === undefined) return { kind: 'out-of-scope' };

  const { gitopsIdentities, systemIdentities, breakGlassGroups } = ctx.params;
  const trusted =
    matchesIdentity(gitopsIdentities, ctx.userInfo) ||
    matchesIdentity(systemIdentities, ctx.userInfo);
  if (!connect && trusted) return { kind: 'trusted' };
  const group = matchingGroup(breakGlassGroups, ctx.userInfo);
  return group ? { kind: 'break-glass', namespace, group } : { kind: 'denied', namespace };
}

/** The act in words: `update`, `kubectl exec`, `scaling`... */
function actOf(ctx: Ctx): string {
  if (ctx.operation === 'CONNECT') {
    return ctx.subResource === 'portforward'
      ? 'kubectl port-forward'
      : `kubectl ${ctx.subResource}`;
  }
  if (ctx.subResource === 'scale') return 'scaling';
  if (ctx.subResource === 'resize') return 'resizing';
  if (ctx.subResource === 'ephemeralcontainers') return 'adding an ephemeral (debug) container';
  return { CREATE: 'creation', UPDATE: 'update', DELETE: 'deletion' }[ctx.operation];
}

/** `UPDATE deployments/scale`, as the audit annotation records the operation. */
function operationOf(ctx: Ctx): string {
  const resource = ctx.subResource ? `${ctx.resource}/${ctx.subResource}` : ctx.resource;
  return `${ctx.operation} ${resource}`;
}

function denial(ctx: Ctx, namespace: string): Finding {
  const groups = ctx.params.breakGlassGroups.map((g) => JSON.stringify(g)).join(', ');
  const emergency = groups
    ? `; in an emergency, act as a member of ${groups}, which is recorded`
    : '';
  const connect = ctx.operation === 'CONNECT';
  return {
    reason: connect ? 'interactive-access' : 'change-outside-gitops',
    path: '',
    message: connect
      ? `${actOf(ctx)} by ${describeUser(ctx.userInfo)} is not allowed in GitOps-managed ` +
        `namespace "${namespace}"`
      : `${actOf(ctx)} by ${describeUser(ctx.userInfo)} does not come from a GitOps controller, ` +
        `and namespace "${namespace}" is GitOps-managed`,
    fix: connect
      ? `use logs, metrics and traces instead${emergency}`
      : `change the manifests in Git and let the GitOps controller sync them${emergency}`,
  };
}

function breakGlassNotice(ctx: Ctx, group: string): Notice {
  const target = `${ctx.kind} ${ctx.namespace ? `${ctx.namespace}/` : ''}${ctx.name}`;
  return {
    reason: 'break-glass',
    message:
      `break-glass: ${describeUser(ctx.userInfo)} (group ${group}) ${operationOf(ctx)} on ` +
      `${target}${ctx.dryRun ? ' (dry run)' : ''}`,
    annotations: {
      'break-glass-user': ctx.userInfo.username,
      'break-glass-group': group,
      'break-glass-operation': operationOf(ctx),
    },
  };
}

export default definePolicy({
  id: 'gitops-only',
  title: 'GitOps-managed namespaces change only through Git; no shells into their pods',
  hipaa: ['164.312(c)(1)', '164.312(b)', '164.312(a)(1)'],
  match: {
    kinds: ['*'],
    operations: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'],
    subResources: ['scale', 'resize', 'ephemeralcontainers', 'exec', 'attach', 'portforward'],
  },
  params,
  defaultMode: 'enforce',
  judgesExistingViolations: true,

  validate(ctx) {
    const verdict = judge(ctx);
    return verdict.kind === 'denied' ? [denial(ctx, verdict.namespace)] : [];
  },

  observe(ctx) {
    const verdict = judge(ctx);
    return verdict.kind === 'break-glass' ? [breakGlassNotice(ctx, verdict.group)] : [];
  },
});
