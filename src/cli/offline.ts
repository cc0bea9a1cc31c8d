/**
 * Offline admission: what the cluster would do with an object from a file, without a cluster.
 *
 * Each object becomes the AdmissionInput of a CREATE by `phi-guard-check`, goes through the
 * mutating webhook, has the patch applied, and the result goes through the validating webhook,
 * as the API server chains them (mutating admission runs before validating admission:
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/).
 */
import fastJsonPatch from 'fast-json-patch';
import { Engine, type AdmissionInput, type Decision } from '../engine/engine.js';
import { loadPolicies } from '../engine/registry.js';
import { loadConfig } from '../config/load.js';
import { isRecord } from '../engine/paths.js';
import { resourceOf } from '../engine/resources.js';
import type { ClusterLookup, KubeObject, UserInfo } from '../engine/policy.js';

const { applyPatch, deepClone } = fastJsonPatch;

/** The identity offline requests carry: an authenticated user with no special group. */
export const CHECK_USER: UserInfo = {
  username: 'phi-guard-check',
  groups: ['system:authenticated'],
};

/** The namespace kubectl gives a namespaced object that names none (without `-n`). */
export const DEFAULT_NAMESPACE = 'default';

/**
 * Well-known cluster-scoped kinds: the built-in APIs (`kubectl api-resources --namespaced=false`
 * on Kubernetes 1.33) and those of the add-ons a PHI cluster commonly runs (cert-manager,
 * External Secrets, Kyverno, Gateway API, Flux has none).
 *
 * Known limitation: the scope of any other custom resource is unknown offline, because only its
 * CRD says it; such objects are treated as namespaced, so a cluster-scoped one is judged in
 * `default` when it names no namespace.
 */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  'APIService',
  'CertificateSigningRequest',
  'ClusterRole',
  'ClusterRoleBinding',
  'ClusterTrustBundle',
  'ComponentStatus',
  'CSIDriver',
  'CSINode',
  'CustomResourceDefinition',
  'DeviceClass',
  'FlowSchema',
  'IngressClass',
  'IPAddress',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
  'MutatingWebhookConfiguration',
  'Namespace',
  'Node',
  'PersistentVolume',
  'PodSecurityPolicy',
  'PriorityClass',
  'PriorityLevelConfiguration',
  'RuntimeClass',
  'SelfSubjectAccessReview',
  'SelfSubjectReview',
  'ServiceCIDR',
  'StorageClass',
  'StorageVersion',
  'StorageVersionMigration',
  'SubjectAccessReview',
  'TokenReview',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'ValidatingWebhookConfiguration',
  'VolumeAttachment',
  'VolumeAttributesClass',
  // cert-manager, External Secrets, Kyverno, Gateway API
  'ClusterIssuer',
  'ClusterSecretStore',
  'ClusterExternalSecret',
  'ClusterGenerator',
  'ClusterPushSecret',
  'ClusterPolicy',
  'ClusterCleanupPolicy',
  'GatewayClass',
]);

/** Options of offlineInput. */
export interface OfflineInputOptions {
  /** Namespace for namespaced objects that name none; `default` when unset (as kubectl). */
  namespace?: string;
  /** Who applies the objects (`check --as`); CHECK_USER when unset. */
  userInfo?: UserInfo;
}

/**
 * The identity of `check --as USER --as-group GROUP...`, named after kubectl's impersonation
 * flags: CI can judge manifests as the GitOps controller that will apply them, so that
 * identity-based policies (gitops-secrets, gitops-only) answer before merge as in the cluster.
 */
export function offlineUser(as: string | undefined, groups: readonly string[] = []): UserInfo {
  if (as === undefined) return CHECK_USER;
  return { username: as, groups: [...new Set(['system:authenticated', ...groups])] };
}

/** The AdmissionInput of a CREATE of `object` (by CHECK_USER unless told), as the API builds it. */
export function offlineInput(
  object: KubeObject,
  options: OfflineInputOptions = {},
): AdmissionInput {
  const kind = String(object.kind);
  const [group, version] = splitApiVersion(String(object.apiVersion));
  const meta = isRecord(object.metadata) ? object.metadata : {};
  const clusterScoped = CLUSTER_SCOPED_KINDS.has(kind);
  const namespace =
    typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : undefined;
  return {
    uid: '00000000-0000-0000-0000-00000000c0de',
    operation: 'CREATE',
    kind,
    group,
    version,
    resource: resourceOf(kind),
    subResource: '',
    namespace: clusterScoped ? '' : (namespace ?? options.namespace ?? DEFAULT_NAMESPACE),
    name: objectName(meta),
    object,
    oldObject: undefined,
    options: undefined,
    userInfo: options.userInfo ?? CHECK_USER,
    dryRun: false,
  };
}

function splitApiVersion(apiVersion: string): [string, string] {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? ['', apiVersion] : [apiVersion.slice(0, slash), apiVersion.slice(slash + 1)];
}

// Same convention as the engine's AdmissionInput.name: a generateName prefix followed by `*`.
function objectName(meta: Record<string, unknown>): string {
  if (typeof meta.name === 'string' && meta.name !== '') return meta.name;
  if (typeof meta.generateName === 'string' && meta.generateName !== '')
    return `${meta.generateName}*`;
  return '';
}

/**
 * Namespace labels read from the Namespace objects among the files checked, so that policies
 * keyed on namespace labels (a PHI namespace, a GitOps-managed one) judge a repository that
 * defines its namespaces as the cluster would once they are applied.
 *
 * Known limitation: a namespace that the checked files do not define has unknown labels, because
 * `check` reads no cluster; policies treat it as the webhook treats a namespace its cache lacks.
 */
export function namespacesFrom(objects: Iterable<KubeObject>): ClusterLookup {
  const labels = new Map<string, Record<string, string>>();
  for (const object of objects) {
    if (object.kind !== 'Namespace' || !isRecord(object.metadata)) continue;
    const { name, labels: own } = object.metadata;
    if (typeof name !== 'string') continue;
    const strings = Object.entries(isRecord(own) ? own : {}).filter(
      ([, v]) => typeof v === 'string',
    );
    labels.set(name, Object.fromEntries(strings) as Record<string, string>);
  }
  return { namespaceLabels: (namespace) => labels.get(namespace) };
}

/** An engine over the built-in policies and the config at `configPath` (or built-in defaults). */
export async function loadEngine(
  configPath: string | undefined,
  cluster?: ClusterLookup,
): Promise<Engine> {
  const registry = await loadPolicies();
  return new Engine(registry, loadConfig(configPath, registry), { cluster });
}

/** What the mutating webhook did to one object: its decision and the object as patched. */
export interface Mutation {
  decision: Decision;
  object: KubeObject;
}

/** Runs the mutating webhook and applies its patch (RFC 6902) to a copy of the object. */
export async function mutateOffline(engine: Engine, input: AdmissionInput): Promise<Mutation> {
  const decision = await engine.evaluate(input, 'mutate');
  const original = input.object ?? {};
  if (decision.patch.length === 0) return { decision, object: original };
  const patched = applyPatch(deepClone(original), deepClone(decision.patch), true, false);
  return { decision, object: patched.newDocument as KubeObject };
}

/** The two webhooks' decisions for one object, and the object the validating one judged. */
export interface OfflineVerdict {
  mutation: Decision | undefined;
  validation: Decision;
  judged: KubeObject;
}

/** Mutates (unless `mutate` is false) and then validates the result, as the API server does. */
export async function judgeOffline(
  engine: Engine,
  input: AdmissionInput,
  mutate = true,
): Promise<OfflineVerdict> {
  const mutation = mutate ? await mutateOffline(engine, input) : undefined;
  const judged = mutation?.object ?? input.object ?? {};
  const validation = await engine.evaluate({ ...input, object: judged }, 'validate');
  return { mutation: mutation?.decision, validation, judged };
}
