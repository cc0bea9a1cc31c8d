/**
 * pod-security: the Kubernetes Pod Security Standards on every pod spec, with the semantics of
 * upstream Pod Security Admission at policy version v1.37.
 *
 * Reads: the pod spec and pod metadata of a Pod, a PodTemplate or the template of a pod
 * controller (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job,
 * CronJob); every container of `initContainers`, `containers` and `ephemeralContainers`
 * (`kubectl debug` arrives as an UPDATE of `pods/ephemeralcontainers` and is judged too).
 *
 * Level `baseline` (./_pod-security/baseline.ts) forbids: privileged containers; hostNetwork,
 * hostPID, hostIPC; hostPath volumes; non-zero hostPorts; a `host` on probe and lifecycle
 * handlers; added capabilities outside the runtime's default set; AppArmor `unconfined` (the
 * annotation) or `Unconfined` (the appArmorProfile field); SELinux user, role and non-container
 * types; an Unmasked /proc unless the pod runs in a user namespace (hostUsers: false); seccomp
 * `Unconfined`; unsafe sysctls; Windows HostProcess containers.
 *
 * Level `restricted` (the default, ./_pod-security/restricted.ts) adds: only configMap, csi,
 * downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes;
 * `allowPrivilegeEscalation: false`; `runAsNonRoot: true` on the pod or every container;
 * no `runAsUser: 0`; seccomp RuntimeDefault or Localhost on the pod or every container;
 * `capabilities.drop` containing ALL and `add` at most NET_BIND_SERVICE; no Unmasked /proc at all.
 *
 * Exempt, as upstream: Windows pods (`spec.os.name: windows`) from the Linux-only restricted
 * checks (allowPrivilegeEscalation, capabilities, seccomp), since the API server forbids those
 * fields on them; pods in a user namespace (`hostUsers: false`) from runAsNonRoot and runAsUser.
 * Nothing is ever exempt by the name of a container or object: use a config exception.
 *
 * Known limitation: every namespace gets policy version v1.37; PSA's per-namespace pinning
 * (`pod-security.kubernetes.io/enforce-version`) is not offered, because phi-guard's config scopes
 * a policy's level by namespace globs, not by version. Known limitation: AppArmor and seccomp are
 * judged by the fields and the AppArmor annotation only; the seccomp annotations that PSA read
 * before policy version 1.19 are ignored, as PSA v1.37 ignores them.
 *
 * Every finding's reason is the upstream PSA check id (`privileged`, `runAsNonRoot`,
 * `seccompProfile_restricted`...), or `invalidShape` for a field of the wrong type that no check
 * can judge.
 *
 * Mutation (level restricted only, ./_pod-security/mutate.ts): sets pod-level
 * `runAsNonRoot: true` and `seccompProfile: RuntimeDefault` unless every container sets its own,
 * and per container `allowPrivilegeEscalation: false` and `capabilities.drop: [ALL]` (the latter
 * only when `drop` is unset), never overriding a value and never a Linux-only field on a Windows
 * pod. It invents no user id. It leaves `allowPrivilegeEscalation` unset beside `privileged: true`
 * or an added CAP_SYS_ADMIN (the API server refuses that pair; validation denies the container
 * with a clear message instead), and `runAsNonRoot` unset in a user namespace or where a
 * container would inherit it beside an explicit `runAsUser: 0` (the kubelet would refuse to start
 * it; validation denies the root user with a message instead). On UPDATE it
 * changes only what the API server lets change: a Deployment's template, never a Pod's or a Job's
 * spec; on `pods/ephemeralcontainers` only the new ephemeral container, which also gets
 * container-level copies of the pod defaults the pod lacks.
 *
 * Note: `runAsNonRoot: true` makes the kubelet refuse to start an image whose user is root (or
 * not numeric). That is intended, since restricted demands it; the fix is a non-root USER in the
 * image or a `runAsUser` in the manifest. At level baseline nothing is mutated: baseline admits
 * root images and added default capabilities, which these defaults would break.
 *
 * HIPAA Security Rule: 164.312(a)(1) access control — workloads that handle PHI run with least
 * privilege and cannot reach the node or other tenants' data through the kernel or the host.
 */
import { z } from 'zod';
import { definePolicy, type Finding } from '../src/engine/policy.js';
import { mutableScope, podSpecOf, POD_KINDS, POD_TEMPLATE_ROOTS } from '../src/engine/pod-spec.js';
import { BASELINE_CHECKS } from './_pod-security/baseline.js';
import { RESTRICTED_CHECKS } from './_pod-security/restricted.js';
import { restrictedDefaults } from './_pod-security/mutate.js';
import { podUnderCheck, type Check, type Level } from './_pod-security/pod.js';
import { checkShape, missingSpec } from './_pod-security/shape.js';

const params = z
  .object({
    /** The Pod Security Standards level to enforce. */
    level: z.enum(['restricted', 'baseline']).default('restricted'),
    /** Fill in the restricted defaults on the mutating webhook (level restricted only). */
    mutate: z.boolean().default(true),
  })
  .strict();

/**
 * The checks of a level: restricted is every baseline check except those a restricted check
 * overrides (upstream `OverrideCheckIDs`), plus the restricted checks.
 */
export function checksFor(level: Level): readonly Check[] {
  if (level === 'baseline') return BASELINE_CHECKS;
  const overridden = new Set(RESTRICTED_CHECKS.flatMap((c) => c.overrides ?? []));
  return [...BASELINE_CHECKS.filter((c) => !overridden.has(c.id)), ...RESTRICTED_CHECKS];
}

const CHECKS: Readonly<Record<Level, readonly Check[]>> = {
  baseline: checksFor('baseline'),
  restricted: checksFor('restricted'),
};

export default definePolicy({
  id: 'pod-security',
  title: 'Pod Security Standards (restricted by default)',
  hipaa: ['164.312(a)(1)'],
  match: { kinds: POD_KINDS, subResources: ['ephemeralcontainers'] },
  params,
  defaultMode: 'enforce',

  validate(ctx): Finding[] {
    const view = podSpecOf(ctx.kind, ctx.object);
    if (!view) return [missingSpec(ctx.kind, [...(POD_TEMPLATE_ROOTS[ctx.kind] ?? []), 'spec'])];
    const pod = podUnderCheck(view);
    return [...checkShape(pod), ...CHECKS[ctx.params.level].flatMap((check) => check.run(pod))];
  },

  mutate(ctx) {
    if (!ctx.params.mutate || ctx.params.level !== 'restricted') return [];
    const view = podSpecOf(ctx.kind, ctx.object);
    if (!view) return [];
    return restrictedDefaults(
      view,
      mutableScope(ctx.kind, ctx.operation, ctx.subResource, ctx.oldObject),
    );
  },
});
