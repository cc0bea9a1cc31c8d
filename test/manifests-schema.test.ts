/**
 * Every object phi-guard ships is a valid Kubernetes object: validated by the kubernetes-models
 * schemas (the OpenAPI schemas of Kubernetes, cert-manager and the Prometheus Operator), and, for
 * built-in kinds, free of unknown fields, as `kubectl apply --validate=strict` would require
 * (the kubernetes-models schemas let unknown fields through, so a typo such as
 * `readOnlyRootFilesytem` would otherwise pass and be silently dropped by the API server).
 */
import { describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { TARGETS, objectKey, render, type RenderedObject } from './fixtures/kustomize.js';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: unknown) => Validatable;

// apiVersion → the kubernetes-models module holding its kinds.
const MODEL_MODULES: Record<string, () => Promise<Record<string, unknown>>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'autoscaling/v2': () => import('kubernetes-models/autoscaling/v2'),
  'policy/v1': () => import('kubernetes-models/policy/v1'),
  'networking.k8s.io/v1': () => import('kubernetes-models/networking.k8s.io/v1'),
  'rbac.authorization.k8s.io/v1': () => import('kubernetes-models/rbac.authorization.k8s.io/v1'),
  'scheduling.k8s.io/v1': () => import('kubernetes-models/scheduling.k8s.io/v1'),
  'admissionregistration.k8s.io/v1': () =>
    import('kubernetes-models/admissionregistration.k8s.io/v1'),
  'cert-manager.io/v1': () => import('@kubernetes-models/cert-manager/cert-manager.io/v1'),
  'monitoring.coreos.com/v1': () =>
    import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'),
};

async function modelOf(o: RenderedObject): Promise<ModelClass> {
  const load = MODEL_MODULES[o.apiVersion];
  if (!load) throw new Error(`${objectKey(o)}: no schema module for apiVersion ${o.apiVersion}`);
  const model = (await load())[o.kind];
  if (typeof model !== 'function') throw new Error(`${objectKey(o)}: no schema for ${o.kind}`);
  return model as ModelClass;
}

interface Attribute {
  baseName: string;
  type: string;
}
type Typed = { getAttributeTypeMap?: () => Attribute[] };
const CLIENT_MODELS = k8s as unknown as Record<string, Typed | undefined>;

/** Paths of the fields of `value` that client-node's model of `type` does not know. */
function unknownFields(value: unknown, type: string, path: string): string[] {
  const list = /^Array<(.+)>$/.exec(type);
  if (list)
    return Array.isArray(value)
      ? value.flatMap((v, i) => unknownFields(v, list[1]!, `${path}[${i}]`))
      : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map && isObject(value)) {
    return Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`));
  }
  const attributes = CLIENT_MODELS[type]?.getAttributeTypeMap?.();
  if (!attributes || !isObject(value)) return [];
  const byName = new Map(attributes.map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([k, v]) => {
    const t = byName.get(k);
    return t === undefined ? [`${path}.${k}`] : unknownFields(v, t, `${path}.${k}`);
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** client-node's class for a built-in kind, e.g. `V2HorizontalPodAutoscaler`; undefined for CRDs. */
function clientModelName(o: RenderedObject): string | undefined {
  const version = o.apiVersion.split('/').pop()!;
  const name = `${version[0]!.toUpperCase()}${version.slice(1)}${o.kind}`;
  return CLIENT_MODELS[name]?.getAttributeTypeMap ? name : undefined;
}

const objects = TARGETS.flatMap((target) =>
  render(target).map((o) => [target, objectKey(o), o] as const),
);

describe('manifests validate against the Kubernetes schemas', () => {
  it.each(objects)('%s: %s', async (_target, _key, object) => {
    const Model = await modelOf(object);
    expect(() => new Model(object).validate()).not.toThrow();
  });

  it.each([
    ['base', 'Deployment', 'spec.replicas', 'three'],
    ['overlays/cert-manager', 'Certificate', 'spec.isCA', 'yes'],
    ['overlays/monitoring', 'PrometheusRule', 'spec.groups', {}],
  ] as const)('%s: a %s whose %s is of the wrong type fails', async (target, kind, path, value) => {
    const object = render(target).find((o) => o.kind === kind)!;
    setPath(object, path, value);
    const Model = await modelOf(object);
    expect(() => new Model(object).validate()).toThrow();
  });
});

describe('built-in kinds carry no unknown field', () => {
  const builtin = objects.filter(([, , o]) => clientModelName(o) !== undefined);

  it.each(builtin)('%s: %s', (_target, _key, object) => {
    expect(unknownFields(object, clientModelName(object)!, '')).toEqual([]);
  });

  it.each([
    [
      'a container with a misspelt securityContext field',
      'spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem',
    ],
    ['a webhook with an unknown top-level field', 'webhooks[0].timeout'],
  ])('%s is reported', (_name, path) => {
    const target = path.startsWith('webhooks') ? 'MutatingWebhookConfiguration' : 'Deployment';
    const object = render('base').find((o) => o.kind === target)!;
    setPath(object, path, true);
    expect(unknownFields(object, clientModelName(object)!, '')).toEqual([`.${path}`]);
  });

  it('every rendered kind is either built in or a cert-manager / Prometheus Operator kind', () => {
    const crds = objects
      .filter(([, , o]) => clientModelName(o) === undefined)
      .map(([, , o]) => o.apiVersion);
    expect(new Set(crds)).toEqual(new Set(['cert-manager.io/v1', 'monitoring.coreos.com/v1']));
  });
});

function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== '');
  let node: Record<string, unknown> = root;
  for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
  node[keys.at(-1)!] = value;
}
