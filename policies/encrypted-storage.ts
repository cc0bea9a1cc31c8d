/**
 * encrypted-storage: every volume claim uses an approved StorageClass, and every approved
 * StorageClass carries its provisioner's encryption parameters.
 *
 * Claims judged, wherever a PersistentVolumeClaim can come from:
 * - PersistentVolumeClaim objects;
 * - StatefulSet `spec.volumeClaimTemplates[]`;
 * - generic ephemeral volumes, `volumes[].ephemeral.volumeClaimTemplate`, in Pods and in the
 *   pod templates of every pod controller.
 * A claim's class is `spec.storageClassName` and also the legacy annotation
 * `volume.beta.kubernetes.io/storage-class`, which the PV controller still reads first
 * (GetPersistentVolumeClaimClass), so both are judged when both are set. Each class named must
 * match `approvedClasses` (globs; default: just `defaultClass`). A claim naming no class is
 * denied, because the cluster's default class — whatever it is — would provision it. `""` binds
 * statically to a pre-created PersistentVolume whose encryption is invisible here: denied
 * unless `allowStaticBinding` (or an exception for that claim).
 *
 * Mutation: a claim that names no class (field absent or null, no annotation — `""` is a choice
 * and is left alone) gets `storageClassName: <defaultClass>` (default `phi-encrypted`): on
 * CREATE of a PVC or StatefulSet only, because both fields are immutable afterwards, and for
 * ephemeral volume templates wherever the pod template may change (src/engine/pod-spec.ts
 * mutableScope). Note: the API server's DefaultStorageClass admission plugin runs before
 * mutating webhooks (kube-apiserver AllOrderedPlugins), so on clusters with a default class a
 * new PVC arrives with that class already set; make `defaultClass` the cluster default too.
 *
 * StorageClass objects whose name matches `approvedClasses` must use a provisioner listed in
 * `provisioners` and carry every parameter it lists there (keys compared case-insensitively, as
 * the CSI drivers lower-case them; values are globs, compared exactly). Built-in table, which
 * `provisioners` extends or overrides entry by entry:
 *   ebs.csi.aws.com, kubernetes.io/aws-ebs   encrypted: "true" (the driver compares the string;
 *                                            kmsKeyId is optional: AWS's key is used without)
 *   pd.csi.storage.gke.io                    disk-encryption-kms-key: projects/…/cryptoKeys/…
 *   disk.csi.azure.com                       diskEncryptionSetID: present
 *   rbd.csi.ceph.com, *.rbd.csi.ceph.com     encrypted: "true" (Rook prefixes its namespace)
 *   driver.longhorn.io                       encrypted: "true"
 *   pxd.portworx.com                         secure: "true"
 * Google persistent disks and Azure managed disks are always encrypted at rest with keys the
 * provider manages; for them the table asks for the customer-managed key parameter, the only
 * encryption setting the StorageClass can show an auditor. To accept provider-managed keys,
 * map the provisioner to `{}` (no parameter needed) in `provisioners` and record why.
 * `reclaimPolicy` (default `Any`) can also require `Delete` or `Retain` of approved classes.
 * StorageClasses that are not approved are not judged: no claim may use them.
 * Known limitation: StorageClasses created before phi-guard was installed are not re-checked,
 * because admission sees only changes; run `phi-guard check` over `kubectl get sc -o yaml`.
 *
 * HIPAA: 164.312(a)(2)(iv) encryption and decryption (ePHI at rest).
 */
import { z } from 'zod';
import {
  definePolicy,
  type Finding,
  type PatchOperation,
  type PolicyContext,
} from '../src/engine/policy.js';
import {
  addIfUnset,
  getIn,
  isRecord,
  toFieldPath,
  toPointer,
  type Segment,
} from '../src/engine/paths.js';
import { mutableScope, podSpecOf, POD_KINDS } from '../src/engine/pod-spec.js';
import { globMatch, matchesAny } from '../src/engine/glob.js';

/** Annotation that named a claim's class before `spec.storageClassName` existed. */
const BETA_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';

/** Provisioner → parameters (name → value glob) its approved StorageClasses must carry. */
const BUILTIN_PROVISIONERS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'ebs.csi.aws.com': { encrypted: 'true' },
  'kubernetes.io/aws-ebs': { encrypted: 'true' },
  'pd.csi.storage.gke.io': { 'disk-encryption-kms-key': 'projects/*/cryptoKeys/*' },
  'disk.csi.azure.com': { diskEncryptionSetID: '*' },
  'rbd.csi.ceph.com': { encrypted: 'true' },
  '*.rbd.csi.ceph.com': { encrypted: 'true' },
  'driver.longhorn.io': { encrypted: 'true' },
  'pxd.portworx.com': { secure: 'true' },
};

const CLASS_NAME = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/;

const params = z
  .object({
    defaultClass: z
      .string()
      .regex(CLASS_NAME, 'must be a StorageClass name (lower-case DNS subdomain)')
      .default('phi-encrypted'),
    approvedClasses: z.array(z.string().min(1)).optional(),
    allowStaticBinding: z.boolean().default(false),
    provisioners: z
      .record(z.string().min(1), z.record(z.string().min(1), z.string().min(1)))
      .default({}),
    reclaimPolicy: z.enum(['Any', 'Delete', 'Retain']).default('Any'),
  })
  .strict()
  .transform((p) => ({
    ...p,
    approvedClasses: p.approvedClasses ?? [p.defaultClass],
    provisioners: { ...BUILTIN_PROVISIONERS, ...p.provisioners },
  }))
  .refine((p) => matchesAny(p.approvedClasses, p.defaultClass), {
    message:
      'defaultClass must match approvedClasses, or mutation would set a class that is denied',
    path: ['defaultClass'],
  });

type Params = z.infer<typeof params>;

/** One place a claim (or claim template) sits in the object, with `metadata` and `spec` below. */
interface ClaimSite {
  /** How messages name it: `PersistentVolumeClaim`, `volumeClaimTemplate "data"`. */
  what: string;
  root: Segment[];
  /** Whether a mutation may add `spec.storageClassName` here on this request. */
  patchable: boolean;
}

/** A class a claim names, with where it names it. */
interface NamedClass {
  value: unknown;
  path: Segment[];
}

export default definePolicy({
  id: 'encrypted-storage',
  title: 'Volumes on approved, encrypted StorageClasses',
  hipaa: ['164.312(a)(2)(iv)'],
  match: { kinds: ['PersistentVolumeClaim', 'StorageClass', ...POD_KINDS] },
  params,
  defaultMode: 'enforce',
  mutate(ctx) {
    return claimSites(ctx)
      .filter((site) => site.patchable && namedClasses(ctx.object, site).length === 0)
      .flatMap((site) =>
        addUnder(ctx.object, site.root, ['spec', 'storageClassName'], ctx.params.defaultClass),
      );
  },
  validate(ctx) {
    if (ctx.kind === 'StorageClass') return judgeStorageClass(ctx);
    return claimSites(ctx).flatMap((site) => judgeClaim(ctx.object, site, ctx.params));
  },
});

function claimSites(ctx: PolicyContext<Params>): ClaimSite[] {
  const created = ctx.operation === 'CREATE';
  if (ctx.kind === 'PersistentVolumeClaim')
    return [{ what: 'PersistentVolumeClaim', root: [], patchable: created }];
  const sites: ClaimSite[] = [];
  if (ctx.kind === 'StatefulSet') sites.push(...templateSites(ctx.object, created));
  const view = podSpecOf(ctx.kind, ctx.object);
  const volumes = view?.spec.volumes;
  if (!view || !Array.isArray(volumes)) return sites;
  const patchable = mutableScope(ctx.kind, ctx.operation, ctx.subResource, ctx.oldObject).podSpec;
  volumes.forEach((volume: unknown, index) => {
    if (!isRecord(volume) || !isRecord(getIn(volume, ['ephemeral', 'volumeClaimTemplate']))) return;
    const name = typeof volume.name === 'string' ? volume.name : `#${index}`;
    const root = [...view.specPath, 'volumes', index, 'ephemeral', 'volumeClaimTemplate'];
    sites.push({ what: `ephemeral volume "${name}"`, root, patchable });
  });
  return sites;
}

// StatefulSet volumeClaimTemplates are immutable once the StatefulSet exists.
function templateSites(object: unknown, created: boolean): ClaimSite[] {
  const templates = getIn(object, ['spec', 'volumeClaimTemplates']);
  if (!Array.isArray(templates)) return [];
  return templates.flatMap((t: unknown, index) => {
    if (!isRecord(t)) return [];
    const name = getIn(t, ['metadata', 'name']);
    const what = `volumeClaimTemplate "${typeof name === 'string' ? name : `#${index}`}"`;
    return [{ what, root: ['spec', 'volumeClaimTemplates', index], patchable: created }];
  });
}

function namedClasses(object: unknown, site: ClaimSite): NamedClass[] {
  const named: NamedClass[] = [];
  const annotationPath = [...site.root, 'metadata', 'annotations', BETA_CLASS_ANNOTATION];
  const annotation = getIn(object, annotationPath);
  if (annotation !== undefined && annotation !== null)
    named.push({ value: annotation, path: annotationPath });
  const fieldPath = [...site.root, 'spec', 'storageClassName'];
  const field = getIn(object, fieldPath);
  if (field !== undefined && field !== null) named.push({ value: field, path: fieldPath });
  return named;
}

function judgeClaim(object: unknown, site: ClaimSite, p: Params): Finding[] {
  const named = namedClasses(object, site);
  const approved = p.approvedClasses.join(', ');
  if (named.length === 0) {
    return [
      {
        reason: 'noStorageClass',
        path: toFieldPath([...site.root, 'spec', 'storageClassName']),
        message:
          `${site.what} names no StorageClass, ` +
          "so the cluster's default class would provision it unchecked",
        fix: `set storageClassName: ${p.defaultClass}`,
      },
    ];
  }
  return named.flatMap(({ value, path }): Finding[] => {
    if (value === '' && p.allowStaticBinding) return [];
    if (value === '') {
      return [
        {
          reason: 'staticBinding',
          path: toFieldPath(path),
          message:
            `${site.what} binds statically (class ""), ` +
            'to a PersistentVolume whose encryption phi-guard cannot see',
          fix: `use an approved encrypted class (${approved}), or an exception for this claim`,
        },
      ];
    }
    if (typeof value === 'string' && matchesAny(p.approvedClasses, value)) return [];
    return [
      {
        reason: 'unapprovedStorageClass',
        path: toFieldPath(path),
        message:
          `${site.what} uses StorageClass ${JSON.stringify(value)}, ` +
          'which is not an approved encrypted class',
        fix: `use an approved class: ${approved}`,
      },
    ];
  });
}

function judgeStorageClass(ctx: PolicyContext<Params>): Finding[] {
  const p = ctx.params;
  const name = getIn(ctx.object, ['metadata', 'name']);
  if (typeof name !== 'string' || !matchesAny(p.approvedClasses, name)) return [];
  const findings: Finding[] = [];
  const policy = getIn(ctx.object, ['reclaimPolicy']) ?? 'Delete';
  if (p.reclaimPolicy !== 'Any' && policy !== p.reclaimPolicy) {
    findings.push({
      reason: 'reclaimPolicy',
      path: 'reclaimPolicy',
      message: `approved StorageClass "${name}" has reclaimPolicy ${String(policy)}`,
      fix: `set reclaimPolicy: ${p.reclaimPolicy}`,
    });
  }
  const provisioner = getIn(ctx.object, ['provisioner']);
  const required =
    typeof provisioner === 'string' ? requirementsOf(p.provisioners, provisioner) : undefined;
  if (required === undefined) {
    findings.push({
      reason: 'unknownProvisioner',
      path: 'provisioner',
      message:
        `approved StorageClass "${name}" uses provisioner ${JSON.stringify(provisioner)}, ` +
        'whose encryption parameters phi-guard does not know',
      fix:
        'use a provisioner listed in encrypted-storage params.provisioners, or add this one ' +
        'there with the parameters that make its volumes encrypted',
    });
    return findings;
  }
  return [...findings, ...missingParameters(ctx.object, name, String(provisioner), required)];
}

// Exact provisioner names first, then glob entries in the order the table lists them.
function requirementsOf(
  table: Params['provisioners'],
  provisioner: string,
): Readonly<Record<string, string>> | undefined {
  if (Object.prototype.hasOwnProperty.call(table, provisioner)) return table[provisioner];
  const glob = Object.keys(table).find((key) => key.includes('*') && globMatch(key, provisioner));
  return glob === undefined ? undefined : table[glob];
}

function missingParameters(
  object: unknown,
  name: string,
  provisioner: string,
  required: Readonly<Record<string, string>>,
): Finding[] {
  const parameters = getIn(object, ['parameters']);
  const present = isRecord(parameters) ? parameters : {};
  const findings: Finding[] = [];
  for (const [key, glob] of Object.entries(required)) {
    const actualKey =
      Object.keys(present).find((k) => k.toLowerCase() === key.toLowerCase()) ?? key;
    const value = present[actualKey];
    if (typeof value === 'string' && value !== '' && globMatch(glob, value)) continue;
    const want = glob.includes('*') ? `a value matching "${glob}"` : `"${glob}"`;
    const subject = `approved StorageClass "${name}" (provisioner ${provisioner})`;
    findings.push({
      reason: 'encryptionParameter',
      path: toFieldPath(['parameters', actualKey]),
      message:
        value === undefined
          ? `${subject} does not set parameters.${key}`
          : `${subject} sets parameters.${actualKey} to something other than ${want}`,
      fix: `set parameters.${key} to ${want} so that ${provisioner} encrypts the volumes`,
    });
  }
  return findings;
}

// addIfUnset walks objects only, so the array part of a path (the claim's own position) is
// resolved first and prefixed to the pointer it returns.
function addUnder(
  root: unknown,
  prefix: Segment[],
  rest: Segment[],
  value: unknown,
): PatchOperation[] {
  const op = addIfUnset(getIn(root, prefix), rest, value);
  return op ? [{ ...op, path: toPointer(prefix) + op.path }] : [];
}
