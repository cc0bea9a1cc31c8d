/**
 * Cases for policies/encrypted-storage.ts: claim classes (field, legacy annotation, static
 * binding) on PVCs, StatefulSet volumeClaimTemplates and generic ephemeral volumes; StorageClass
 * encryption parameters per provisioner; the default-class mutation; modes and exceptions.
 *
 * A claim that names no class is fixed by the mutating webhook, so the validation cases for it
 * are `offline: false`: they describe a cluster where mutation did not run.
 */
import type { AdmissionInput } from '../../src/engine/engine.js';
import type { KubeObject, PatchOperation } from '../../src/engine/policy.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { Expectation, PolicyCase } from './types.js';

const POLICY = 'encrypted-storage';
const NS = 'records';
const CLASS = 'phi-encrypted';
const BETA = 'volume.beta.kubernetes.io/storage-class';

/** A PVC with `storageClassName` set to `cls`, or without it when `cls` is undefined. */
function pvc(name: string, cls?: string, annotations?: Record<string, string>): KubeObject {
  const spec: Record<string, unknown> = {
    accessModes: ['ReadWriteOnce'],
    resources: { requests: { storage: '10Gi' } },
  };
  if (cls !== undefined) spec.storageClassName = cls;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: NS, ...(annotations ? { annotations } : {}) },
    spec,
  };
}

function claimTemplate(name: string, cls?: string): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    accessModes: ['ReadWriteOnce'],
    resources: { requests: { storage: '1Gi' } },
  };
  if (cls !== undefined) spec.storageClassName = cls;
  return { metadata: { name }, spec };
}

function statefulSet(name: string, templates?: Array<Record<string, unknown>>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: NS },
    spec: {
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'db', image: 'postgres:17' }] },
      },
      ...(templates ? { volumeClaimTemplates: templates } : {}),
    },
  };
}

/** Pod spec with one generic ephemeral volume `scratch` of class `cls` (none when undefined). */
function ephemeralSpec(cls?: string): Record<string, unknown> {
  return {
    containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
    volumes: [
      { name: 'scratch', ephemeral: { volumeClaimTemplate: claimTemplate('scratch', cls) } },
    ],
  };
}

function deployment(name: string, podSpec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: podSpec },
    },
  };
}

function cronJob(name: string, podSpec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: NS },
    spec: {
      schedule: '@daily',
      jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', ...podSpec } } } },
    },
  };
}

function pod(name: string, podSpec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: podSpec };
}

function storageClass(
  name: string,
  provisioner: string,
  parameters?: Record<string, string>,
  reclaimPolicy?: string,
): KubeObject {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name },
    provisioner,
    ...(parameters ? { parameters } : {}),
    ...(reclaimPolicy ? { reclaimPolicy } : {}),
    volumeBindingMode: 'WaitForFirstConsumer',
  };
}

function withParams(params: Record<string, unknown>, mode?: 'warn' | 'audit'): ConfigInput {
  return { policies: { [POLICY]: { ...(mode ? { mode } : {}), params } } };
}

const gp2Claim = pvc('scans', 'gp2');
const KMS_KEY = 'projects/acme-phi/locations/us-east1/keyRings/phi/cryptoKeys/volumes';

export const cases: PolicyCase[] = [
  {
    name: 'PVC on the default encrypted class',
    policy: POLICY,
    object: pvc('scans', CLASS),
    expect: 'allowed',
  },
  {
    name: 'PVC naming no class when mutation did not run',
    policy: POLICY,
    object: pvc('scans'),
    expect: 'denied',
    reasons: ['noStorageClass'],
    messageIncludes: [
      "[encrypted-storage] PersistentVolumeClaim records/scans: spec.storageClassName: PersistentVolumeClaim names no StorageClass, so the cluster's default class would provision it unchecked; set storageClassName: phi-encrypted",
    ],
    offline: false,
  },
  {
    name: 'PVC on an unapproved class',
    policy: POLICY,
    object: gp2Claim,
    expect: 'denied',
    reasons: ['unapprovedStorageClass'],
    messageIncludes: [
      'PersistentVolumeClaim uses StorageClass "gp2", which is not an approved encrypted class; use an approved class: phi-encrypted',
    ],
  },
  {
    name: 'PVC binding statically with class ""',
    policy: POLICY,
    object: pvc('scans', ''),
    expect: 'denied',
    reasons: ['staticBinding'],
  },
  {
    name: 'PVC binding statically with class "" when static binding is allowed',
    policy: POLICY,
    config: withParams({ allowStaticBinding: true }),
    object: pvc('scans', ''),
    expect: 'allowed',
  },
  {
    name: 'PVC with an approved field but an unapproved legacy annotation',
    policy: POLICY,
    object: pvc('scans', CLASS, { [BETA]: 'gp2' }),
    expect: 'denied',
    reasons: ['unapprovedStorageClass'],
    messageIncludes: [
      'metadata.annotations["volume.beta.kubernetes.io/storage-class"]: PersistentVolumeClaim uses StorageClass "gp2"',
    ],
  },
  {
    name: 'PVC naming an approved class by the legacy annotation only',
    policy: POLICY,
    object: pvc('scans', undefined, { [BETA]: CLASS }),
    expect: 'allowed',
  },
  {
    name: 'PVC on a class matched by an approved glob',
    policy: POLICY,
    config: withParams({ approvedClasses: ['phi-*'] }),
    object: pvc('scans', 'phi-fast'),
    expect: 'allowed',
  },
  {
    name: 'PVC with a storageClassName that is not a string',
    policy: POLICY,
    object: { ...pvc('scans'), spec: { storageClassName: 42 } },
    expect: 'denied',
    reasons: ['unapprovedStorageClass'],
  },
  {
    name: 'PVC resized while it already named no class',
    policy: POLICY,
    object: {
      ...pvc('scans'),
      spec: { ...(pvc('scans').spec as object), resources: { requests: { storage: '20Gi' } } },
    },
    request: { operation: 'UPDATE', oldObject: pvc('scans') },
    expect: 'warned',
    reasons: ['noStorageClass'],
    offline: false,
  },
  {
    name: 'StatefulSet volumeClaimTemplate on an unapproved class',
    policy: POLICY,
    object: statefulSet('db', [claimTemplate('data', 'standard')]),
    expect: 'denied',
    reasons: ['unapprovedStorageClass'],
    messageIncludes: [
      'spec.volumeClaimTemplates[0].spec.storageClassName: volumeClaimTemplate "data" uses StorageClass "standard"',
    ],
  },
  {
    name: 'StatefulSet volumeClaimTemplate naming no class when mutation did not run',
    policy: POLICY,
    object: statefulSet('db', [claimTemplate('data')]),
    expect: 'denied',
    reasons: ['noStorageClass'],
    offline: false,
  },
  {
    name: 'StatefulSet without volumeClaimTemplates',
    policy: POLICY,
    object: statefulSet('cache'),
    expect: 'allowed',
  },
  {
    name: 'Deployment generic ephemeral volume on an unapproved class',
    policy: POLICY,
    object: deployment('etl', ephemeralSpec('gp2')),
    expect: 'denied',
    reasons: ['unapprovedStorageClass'],
    messageIncludes: [
      'spec.template.spec.volumes[0].ephemeral.volumeClaimTemplate.spec.storageClassName: ephemeral volume "scratch" uses StorageClass "gp2"',
    ],
  },
  {
    name: 'CronJob generic ephemeral volume naming no class when mutation did not run',
    policy: POLICY,
    object: cronJob('export', ephemeralSpec()),
    expect: 'denied',
    reasons: ['noStorageClass'],
    messageIncludes: [
      'spec.jobTemplate.spec.template.spec.volumes[0].ephemeral.volumeClaimTemplate.spec.storageClassName',
    ],
    offline: false,
  },
  {
    name: 'Pod with only an emptyDir volume',
    policy: POLICY,
    object: pod('worker', {
      containers: [{ name: 'app', image: 'x:1' }],
      volumes: [{ name: 'tmp', emptyDir: {} }],
    }),
    expect: 'allowed',
  },
  {
    name: 'approved StorageClass on EBS CSI with encrypted "true"',
    policy: POLICY,
    object: storageClass(CLASS, 'ebs.csi.aws.com', { type: 'gp3', encrypted: 'true' }),
    expect: 'allowed',
  },
  {
    name: 'approved StorageClass on EBS CSI without the encrypted parameter',
    policy: POLICY,
    object: storageClass(CLASS, 'ebs.csi.aws.com', { type: 'gp3' }),
    expect: 'denied',
    reasons: ['encryptionParameter'],
    messageIncludes: [
      '[encrypted-storage] StorageClass phi-encrypted: parameters.encrypted: approved StorageClass "phi-encrypted" (provisioner ebs.csi.aws.com) does not set parameters.encrypted; set parameters.encrypted to "true"',
    ],
  },
  {
    name: 'approved StorageClass on in-tree aws-ebs with encrypted "false"',
    policy: POLICY,
    object: storageClass(CLASS, 'kubernetes.io/aws-ebs', { type: 'gp2', encrypted: 'false' }),
    expect: 'denied',
    reasons: ['encryptionParameter'],
    messageIncludes: ['sets parameters.encrypted to something other than "true"'],
  },
  {
    name: 'approved StorageClass on a provisioner with unknown encryption parameters',
    policy: POLICY,
    object: storageClass(CLASS, 'nfs.csi.k8s.io', { server: 'nfs.internal' }),
    expect: 'denied',
    reasons: ['unknownProvisioner'],
    messageIncludes: [
      'uses provisioner "nfs.csi.k8s.io", whose encryption parameters phi-guard does not know',
    ],
  },
  {
    name: 'unapproved StorageClass without encryption (no claim may use it)',
    policy: POLICY,
    object: storageClass('gp2', 'kubernetes.io/aws-ebs', { type: 'gp2' }),
    expect: 'allowed',
  },
  {
    name: 'approved StorageClass on GKE PD with a customer-managed key',
    policy: POLICY,
    object: storageClass(CLASS, 'pd.csi.storage.gke.io', {
      type: 'pd-balanced',
      'disk-encryption-kms-key': KMS_KEY,
    }),
    expect: 'allowed',
  },
  {
    name: 'approved StorageClass on GKE PD with provider-managed keys only',
    policy: POLICY,
    object: storageClass(CLASS, 'pd.csi.storage.gke.io', { type: 'pd-balanced' }),
    expect: 'denied',
    reasons: ['encryptionParameter'],
    messageIncludes: [
      'set parameters.disk-encryption-kms-key to a value matching "projects/*/cryptoKeys/*"',
    ],
  },
  {
    name: 'approved StorageClass on Azure Disk with a lower-case diskencryptionsetid key',
    policy: POLICY,
    object: storageClass(CLASS, 'disk.csi.azure.com', {
      skuName: 'Premium_LRS',
      diskencryptionsetid:
        '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/phi',
    }),
    expect: 'allowed',
  },
  {
    name: 'approved StorageClass on Azure Disk with provider-managed keys accepted by config',
    policy: POLICY,
    config: withParams({ provisioners: { 'disk.csi.azure.com': {} } }),
    object: storageClass(CLASS, 'disk.csi.azure.com', { skuName: 'Premium_LRS' }),
    expect: 'allowed',
  },
  {
    name: 'approved StorageClass on Rook Ceph RBD (namespaced provisioner) with encrypted "true"',
    policy: POLICY,
    object: storageClass(CLASS, 'rook-ceph.rbd.csi.ceph.com', {
      clusterID: 'rook-ceph',
      pool: 'replicapool',
      encrypted: 'true',
    }),
    expect: 'allowed',
  },
  {
    name: 'approved StorageClass on a provisioner added by config',
    policy: POLICY,
    config: withParams({
      provisioners: { 'csi.vsphere.vmware.com': { storagepolicyname: 'encrypted-*' } },
    }),
    object: storageClass(CLASS, 'csi.vsphere.vmware.com', { storagepolicyname: 'encrypted-gold' }),
    expect: 'allowed',
  },
  {
    name: 'approved StorageClass with reclaimPolicy Retain when Delete is required',
    policy: POLICY,
    config: withParams({ reclaimPolicy: 'Delete' }),
    object: storageClass(CLASS, 'ebs.csi.aws.com', { encrypted: 'true' }, 'Retain'),
    expect: 'denied',
    reasons: ['reclaimPolicy'],
  },
  {
    name: 'approved StorageClass without reclaimPolicy (defaults to Delete) when Delete is required',
    policy: POLICY,
    config: withParams({ reclaimPolicy: 'Delete' }),
    object: storageClass(CLASS, 'ebs.csi.aws.com', { encrypted: 'true' }),
    expect: 'allowed',
  },
  {
    name: 'PVC on an unapproved class in warn mode',
    policy: POLICY,
    config: withParams({}, 'warn'),
    object: gp2Claim,
    expect: 'warned',
    reasons: ['unapprovedStorageClass'],
  },
  {
    name: 'PVC on an unapproved class in audit mode',
    policy: POLICY,
    config: withParams({}, 'audit'),
    object: gp2Claim,
    expect: 'audited',
    reasons: ['unapprovedStorageClass'],
  },
  {
    name: 'PVC on an unapproved class covered by an exception',
    policy: POLICY,
    config: {
      exceptions: [
        {
          name: 'legacy-scans',
          policies: [POLICY],
          namespace: NS,
          kind: 'PersistentVolumeClaim',
          objectName: 'scans',
          reason: 'migrating to phi-encrypted in CHG-88',
          expires: '2099-03-31',
        },
      ],
    },
    object: gp2Claim,
    expect: 'excepted',
    reasons: ['unapprovedStorageClass'],
  },
];

/** One request through the mutating webhook, then the validating one on the patched object. */
export interface MutationCase {
  name: string;
  object: KubeObject;
  request?: Partial<AdmissionInput>;
  config?: ConfigInput;
  /** The exact patch the mutating webhook must send ([] for none). */
  patch: PatchOperation[];
  /** What validation makes of the object once patched. */
  then: Expectation;
}

const addClass = (path: string, value = CLASS): PatchOperation => ({ op: 'add', path, value });
const EPHEMERAL_IN_TEMPLATE =
  '/spec/template/spec/volumes/0/ephemeral/volumeClaimTemplate/spec/storageClassName';

export const mutationCases: MutationCase[] = [
  {
    name: 'new PVC naming no class gets the default class',
    object: pvc('scans'),
    patch: [addClass('/spec/storageClassName')],
    then: 'allowed',
  },
  {
    name: 'new PVC with a null storageClassName gets the default class',
    object: { ...pvc('scans'), spec: { ...(pvc('scans').spec as object), storageClassName: null } },
    patch: [{ op: 'add', path: '/spec/storageClassName', value: CLASS }],
    then: 'allowed',
  },
  {
    name: 'new PVC without any spec gets one with the default class',
    object: {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'bare', namespace: NS },
    },
    patch: [{ op: 'add', path: '/spec', value: { storageClassName: CLASS } }],
    then: 'allowed',
  },
  {
    name: 'new PVC with class "" is left for validation to deny',
    object: pvc('scans', ''),
    patch: [],
    then: 'denied',
  },
  {
    name: 'new PVC naming its class by the legacy annotation is left alone',
    object: pvc('scans', undefined, { [BETA]: CLASS }),
    patch: [],
    then: 'allowed',
  },
  {
    name: 'new PVC on an unapproved class is not overridden',
    object: gp2Claim,
    patch: [],
    then: 'denied',
  },
  {
    name: 'updated PVC naming no class is not patched (the class is immutable)',
    object: pvc('scans'),
    request: { operation: 'UPDATE', oldObject: pvc('scans') },
    patch: [],
    then: 'warned',
  },
  {
    name: 'new StatefulSet: only the template naming no class gets the default',
    object: statefulSet('db', [claimTemplate('data', CLASS), claimTemplate('wal')]),
    patch: [addClass('/spec/volumeClaimTemplates/1/spec/storageClassName')],
    then: 'allowed',
  },
  {
    name: 'updated StatefulSet naming no class in its template is not patched',
    object: statefulSet('db', [claimTemplate('data')]),
    request: { operation: 'UPDATE', oldObject: statefulSet('db', [claimTemplate('data')]) },
    patch: [],
    then: 'warned',
  },
  {
    name: 'new Deployment ephemeral volume naming no class gets the default',
    object: deployment('etl', ephemeralSpec()),
    patch: [addClass(EPHEMERAL_IN_TEMPLATE)],
    then: 'allowed',
  },
  {
    name: 'updated Deployment ephemeral volume naming no class gets the default (template is mutable)',
    object: deployment('etl', ephemeralSpec()),
    request: { operation: 'UPDATE', oldObject: deployment('etl', ephemeralSpec()) },
    patch: [addClass(EPHEMERAL_IN_TEMPLATE)],
    then: 'allowed',
  },
  {
    name: 'updated Pod ephemeral volume naming no class is not patched (pod spec is immutable)',
    object: pod('worker', ephemeralSpec()),
    request: { operation: 'UPDATE', oldObject: pod('worker', ephemeralSpec()) },
    patch: [],
    then: 'warned',
  },
  {
    name: 'new CronJob ephemeral volume gets a configured default class',
    config: withParams({ defaultClass: 'gp3-encrypted' }),
    object: cronJob('export', ephemeralSpec()),
    patch: [
      addClass(
        '/spec/jobTemplate/spec/template/spec/volumes/0/ephemeral/volumeClaimTemplate/spec/storageClassName',
        'gp3-encrypted',
      ),
    ],
    then: 'allowed',
  },
  {
    name: 'new PVC naming no class in audit mode is not patched',
    config: withParams({}, 'audit'),
    object: pvc('scans'),
    patch: [],
    then: 'audited',
  },
];
