/**
 * gitops-secrets: a plain Secret applied by a GitOps controller is denied.
 *
 * A Secret that Argo CD or Flux applies came from Git, where its base64 `data` (or plain
 * `stringData`) is readable by everyone with access to the repository, its forks and its
 * history, for ever. The Secret belongs in Git as a SealedSecret (bitnami-labs/sealed-secrets,
 * encrypted for the cluster's controller) or an ExternalSecret (external-secrets.io, a pointer
 * to a secret store); their controllers then create the Secret.
 *
 * - Reads: the requester (`userInfo` only: never labels, annotations or ownerReferences, which
 *   whoever writes the object controls), and the Secret's `type`, `data` and `stringData` keys.
 * - Denies: CREATE or UPDATE of a `Secret` with at least one `data` or `stringData` key by an
 *   identity in `gitopsIdentities` (default: Argo CD's application controller and Flux's
 *   kustomize-controller and helm-controller).
 * - Allowed:
 *   - Secrets written by anyone else, notably the sealed-secrets and external-secrets
 *     controllers, cert-manager and the service-account token controller;
 *   - Secrets without data: nothing of theirs is in Git;
 *   - `kubernetes.io/service-account-token` Secrets holding only the keys the token controller
 *     fills in (`token`, `ca.crt`, `namespace`): Git holds only the request for a token;
 *   - `helm.sh/release.v1` Secrets written by `helmReleaseIdentities` (default Flux's
 *     helm-controller): Helm's own record of a release, not a credential from Git. The
 *     exemption is tied to the identity because `type` is written by whoever writes the object;
 *   - types listed in `allowedSecretTypes` (default none; same caveat).
 * - UPDATE: a Secret that already held data is warned about, not denied (the engine's rule for
 *   violations the old object had), so that GitOps keeps syncing Secrets that predate the policy
 *   while they are migrated; adding data to a Secret is denied.
 * - Known limitation: with Flux multi-tenancy (`spec.serviceAccountName`) or Argo CD sync
 *   impersonation, manifests are applied as the tenant's service account, not the controller's;
 *   add those service accounts to `gitopsIdentities`, because nothing else tells them apart.
 *
 * HIPAA Security Rule: 164.312(a)(1) access control.
 */
import { z } from 'zod';
import { definePolicy } from '../src/engine/policy.js';
import type { PolicyContext } from '../src/engine/policy.js';
import { isRecord } from '../src/engine/paths.js';
import {
  DEFAULT_GITOPS_IDENTITIES,
  FLUX_HELM_CONTROLLER,
  describeUser,
  identitySelector,
  matchesIdentity,
} from '../src/engine/identity.js';

const params = z
  .object({
    /** Identities whose Secrets come from Git. */
    gitopsIdentities: identitySelector(DEFAULT_GITOPS_IDENTITIES),
    /** Identities that store Helm release records (`helm.sh/release.v1` Secrets). */
    helmReleaseIdentities: identitySelector({ users: [FLUX_HELM_CONTROLLER], groups: [] }),
    /** Further Secret types a GitOps identity may apply with data. */
    allowedSecretTypes: z.array(z.string().min(1)).default([]),
  })
  .strict();

type Params = z.infer<typeof params>;

// Keys the token controller writes into a service-account token Secret
// (https://kubernetes.io/docs/concepts/configuration/secret/#serviceaccount-token-secrets).
const TOKEN_CONTROLLER_KEYS = new Set(['token', 'ca.crt', 'namespace']);
const MAX_LISTED_KEYS = 5;

function keysOf(value: unknown): string[] {
  return isRecord(value) ? Object.keys(value) : [];
}

function exempt(
  type: unknown,
  dataKeys: string[],
  stringDataKeys: string[],
  ctx: PolicyContext<Params>,
): boolean {
  if (type === 'kubernetes.io/service-account-token') {
    return stringDataKeys.length === 0 && dataKeys.every((k) => TOKEN_CONTROLLER_KEYS.has(k));
  }
  if (type === 'helm.sh/release.v1')
    return matchesIdentity(ctx.params.helmReleaseIdentities, ctx.userInfo);
  return typeof type === 'string' && ctx.params.allowedSecretTypes.includes(type);
}

function listKeys(keys: string[]): string {
  const shown = keys.slice(0, MAX_LISTED_KEYS).join(', ');
  return keys.length > MAX_LISTED_KEYS
    ? `${shown} and ${keys.length - MAX_LISTED_KEYS} more`
    : shown;
}

export default definePolicy({
  id: 'gitops-secrets',
  title: 'Secrets reach the cluster sealed or external, never as plain Secrets from Git',
  hipaa: ['164.312(a)(1)'],
  match: { kinds: ['Secret'], operations: ['CREATE', 'UPDATE'] },
  params,
  defaultMode: 'enforce',

  validate(ctx) {
    const secret = ctx.object;
    if (ctx.group !== '' || !secret || !matchesIdentity(ctx.params.gitopsIdentities, ctx.userInfo))
      return [];
    const dataKeys = keysOf(secret.data);
    const stringDataKeys = keysOf(secret.stringData);
    const keys = [...new Set([...dataKeys, ...stringDataKeys])].sort();
    if (keys.length === 0 || exempt(secret.type, dataKeys, stringDataKeys, ctx)) return [];

    return [
      {
        reason: 'plain-secret-from-gitops',
        path: dataKeys.length > 0 ? 'data' : 'stringData',
        message:
          `plain Secret applied by GitOps identity ${describeUser(ctx.userInfo)}: ` +
          `its keys (${listKeys(keys)}) are stored readable in Git`,
        fix:
          'commit a SealedSecret or an ExternalSecret instead and let its controller create ' +
          'this Secret (for a Helm chart, point the chart at that Secret, often an ' +
          'existingSecret value)',
      },
    ];
  },
});
