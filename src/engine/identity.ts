/**
 * Who is asking: matching the request's `userInfo` against configured users and groups.
 *
 * Identity comes from `userInfo` alone, which the API server authenticated; labels, annotations
 * and ownerReferences are written by whoever writes the object and never grant anything.
 * Service accounts authenticate as `system:serviceaccount:<namespace>:<name>` and belong to the
 * groups `system:serviceaccounts` and `system:serviceaccounts:<namespace>`
 * (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/).
 */
import { z } from 'zod';
import { globMatch, matchesAny } from './glob.js';
import type { UserInfo } from './policy.js';

/** Users and groups, as globs (`*` any run of characters, `?` one character). */
export interface IdentitySelector {
  /** Usernames, e.g. `system:serviceaccount:argocd:argocd-application-controller`. */
  users: string[];
  /** Group names, e.g. `system:nodes`. */
  groups: string[];
}

/** Argo CD's application controller, which applies what Argo CD syncs (install manifests). */
export const ARGO_CD_APPLICATION_CONTROLLER =
  'system:serviceaccount:argocd:argocd-application-controller';
/** Flux's kustomize-controller, which applies Kustomizations (flux2 install manifests). */
export const FLUX_KUSTOMIZE_CONTROLLER = 'system:serviceaccount:flux-system:kustomize-controller';
/** Flux's helm-controller, which installs HelmReleases through the Helm SDK. */
export const FLUX_HELM_CONTROLLER = 'system:serviceaccount:flux-system:helm-controller';

/**
 * The GitOps controllers of a default Argo CD or Flux install. argocd-server is not one of them:
 * it acts for people in the Argo CD UI and CLI (resource actions, deletes, the web terminal),
 * which is not a change that came from Git.
 */
export const DEFAULT_GITOPS_IDENTITIES: IdentitySelector = {
  users: [ARGO_CD_APPLICATION_CONTROLLER, FLUX_KUSTOMIZE_CONTROLLER, FLUX_HELM_CONTROLLER],
  groups: [],
};

/**
 * The cluster's own controllers and the controllers that turn GitOps-safe objects into Secrets:
 * - `system:kube-controller-manager`, `system:kube-scheduler` (it deletes pods to preempt them),
 *   `system:apiserver` (its loopback client);
 * - every service account of kube-system: kube-controller-manager runs each controller as one
 *   (`--use-service-account-credentials`: replicaset-controller, horizontal-pod-autoscaler,
 *   generic-garbage-collector, ...), and the upstream sealed-secrets manifest installs
 *   `sealed-secrets-controller` there; only cluster admins can create service accounts there;
 * - cert-manager and external-secrets as their Helm charts install them;
 * - group `system:nodes`: kubelets create mirror pods and finish pod deletion.
 */
export const DEFAULT_SYSTEM_IDENTITIES: IdentitySelector = {
  users: [
    'system:kube-controller-manager',
    'system:kube-scheduler',
    'system:apiserver',
    'system:serviceaccount:kube-system:*',
    'system:serviceaccount:cert-manager:cert-manager',
    'system:serviceaccount:external-secrets:external-secrets',
  ],
  groups: ['system:nodes'],
};

const SA_USER_PREFIX = 'system:serviceaccount:';
const SA_GROUP_PREFIX = 'system:serviceaccounts:';
// Groups the API server gives whole populations (authentication docs, "Kubernetes groups").
const EVERYONE_GROUPS: Readonly<Record<string, string>> = {
  'system:authenticated': 'every authenticated user',
  'system:unauthenticated': 'every anonymous request',
  'system:serviceaccounts': 'every service account',
};

function literalPrefix(glob: string): string {
  const wild = glob.search(/[*?]/);
  return wild === -1 ? glob : glob.slice(0, wild);
}

/**
 * Why a user glob is unsafe to trust, or undefined. A wildcard in the namespace part of a
 * service-account name would let anyone who may create a ServiceAccount in some namespace act as
 * the trusted identity; `*` alone trusts everyone.
 */
export function unsafeUserGlob(glob: string): string | undefined {
  if (globMatch(glob, 'system:anonymous')) return 'matches anonymous requests';
  if (!/[*?]/.test(glob)) return undefined;
  const prefix = literalPrefix(glob);
  const namespaceOpen =
    SA_USER_PREFIX.startsWith(prefix) ||
    (prefix.startsWith(SA_USER_PREFIX) && !prefix.slice(SA_USER_PREFIX.length).includes(':'));
  return namespaceOpen
    ? 'matches service accounts of any namespace; name the namespace exactly'
    : undefined;
}

/** Why a group glob is unsafe to trust (it covers everyone or any namespace), or undefined. */
export function unsafeGroupGlob(glob: string): string | undefined {
  const everyone = Object.keys(EVERYONE_GROUPS).find((g) => globMatch(glob, g));
  if (everyone) return `matches group ${everyone}, which holds ${EVERYONE_GROUPS[everyone]}`;
  if (!/[*?]/.test(glob)) return undefined;
  const prefix = literalPrefix(glob);
  const namespaceOpen = SA_GROUP_PREFIX.startsWith(prefix) || prefix.startsWith(SA_GROUP_PREFIX);
  return namespaceOpen
    ? 'matches the service accounts of any namespace; name the namespace exactly'
    : undefined;
}

function checked(unsafe: (glob: string) => string | undefined): z.ZodType<string> {
  return z
    .string()
    .min(1, 'must not be empty')
    .superRefine((glob, ctx) => {
      const why = unsafe(glob);
      if (why) ctx.addIssue({ code: 'custom', message: `"${glob}" ${why}` });
    });
}

/** Schema of a list of trusted group globs (unsafe wildcards refused at config load). */
export function groupList(defaults: readonly string[]): z.ZodType<string[]> {
  return z.array(checked(unsafeGroupGlob)).default(() => [...defaults]);
}

/** Schema of an IdentitySelector with defaults (unsafe wildcards refused at config load). */
export function identitySelector(defaults: IdentitySelector): z.ZodType<IdentitySelector> {
  return z
    .object({
      users: z.array(checked(unsafeUserGlob)).default(() => [...defaults.users]),
      groups: groupList(defaults.groups),
    })
    .strict()
    .default(() => ({ users: [...defaults.users], groups: [...defaults.groups] }));
}

/** True when the requester's username or one of its groups matches the selector. */
export function matchesIdentity(selector: IdentitySelector, user: UserInfo): boolean {
  if (matchesAny(selector.users, user.username)) return true;
  return user.groups.some((g) => matchesAny(selector.groups, g));
}

/** The first of the requester's groups that matches one of `globs`, or undefined. */
export function matchingGroup(globs: readonly string[], user: UserInfo): string | undefined {
  return user.groups.find((g) => matchesAny(globs, g));
}

/** `"alice"` or `service account argocd/argocd-server`, as messages name the requester. */
export function describeUser(user: UserInfo): string {
  if (user.username.startsWith(SA_USER_PREFIX)) {
    const [namespace, name] = user.username.slice(SA_USER_PREFIX.length).split(':');
    if (namespace && name) return `service account ${namespace}/${name}`;
  }
  return JSON.stringify(user.username);
}
