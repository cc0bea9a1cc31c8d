/**
 * Cases for policies/network-exposure.ts: Service types and external IPs, Ingress TLS coverage
 * (wildcards, host-less rules, default backends, plain-HTTP annotations) in PHI namespaces named
 * by `phiNamespaces`, and the engine's modes and exceptions. Namespace labels need a cluster
 * lookup, so those cases live in test/policies/network-exposure.test.ts.
 */
import type { KubeObject } from '../../src/engine/policy.js';
import type { PolicyCase } from './types.js';

const POLICY = 'network-exposure';
const PHI = 'phi-records';

function service(name: string, spec: Record<string, unknown>, namespace = PHI): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { selector: { app: name }, ports: [{ port: 443, targetPort: 8443 }], ...spec },
  };
}

function rule(host?: string): Record<string, unknown> {
  const http = {
    paths: [
      {
        path: '/',
        pathType: 'Prefix',
        backend: { service: { name: 'web', port: { number: 443 } } },
      },
    ],
  };
  return host === undefined ? { http } : { host, http };
}

function ingress(
  name: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
  apiVersion = 'networking.k8s.io/v1',
): KubeObject {
  return {
    apiVersion,
    kind: 'Ingress',
    metadata: { name, namespace: PHI, ...(annotations ? { annotations } : {}) },
    spec: { ingressClassName: 'nginx', ...spec },
  };
}

function tls(...hosts: string[]): Array<Record<string, unknown>> {
  return [{ hosts, secretName: 'web-tls' }];
}

/** Config naming `phi-*` as PHI namespaces, with extra params and an optional mode. */
function phiConfig(
  params: Record<string, unknown> = {},
  mode?: 'warn' | 'audit',
): PolicyCase['config'] {
  return {
    policies: {
      [POLICY]: { ...(mode ? { mode } : {}), params: { phiNamespaces: ['phi-*'], ...params } },
    },
  };
}

const loadBalancer = service('web', { type: 'LoadBalancer' });
const securedIngress = ingress('portal', {
  rules: [rule('portal.example.org')],
  tls: tls('portal.example.org'),
});

export const cases: PolicyCase[] = [
  {
    name: 'ClusterIP service in a PHI namespace',
    policy: POLICY,
    config: phiConfig(),
    object: service('web', { type: 'ClusterIP' }),
    expect: 'allowed',
  },
  {
    name: 'LoadBalancer service in a PHI namespace',
    policy: POLICY,
    config: phiConfig(),
    object: loadBalancer,
    expect: 'denied',
    reasons: ['loadBalancer'],
    messageIncludes: [
      '[network-exposure] Service phi-records/web: spec.type: Service type LoadBalancer exposes it outside the cluster in a namespace that holds PHI; use type ClusterIP',
    ],
  },
  {
    name: 'NodePort service in a PHI namespace',
    policy: POLICY,
    config: phiConfig(),
    object: service('web', { type: 'NodePort' }),
    expect: 'denied',
    reasons: ['nodePort'],
  },
  {
    name: 'LoadBalancer service outside PHI namespaces',
    policy: POLICY,
    config: phiConfig(),
    object: service('web', { type: 'LoadBalancer' }, 'marketing'),
    expect: 'allowed',
  },
  {
    name: 'LoadBalancer service with no PHI namespace configured and no namespace cache',
    policy: POLICY,
    object: loadBalancer,
    expect: 'allowed',
  },
  {
    name: 'ClusterIP service with externalIPs in a PHI namespace',
    policy: POLICY,
    config: phiConfig(),
    object: service('web', { type: 'ClusterIP', externalIPs: ['203.0.113.7'] }),
    expect: 'denied',
    reasons: ['externalIPs'],
  },
  {
    name: 'NodePort service when only LoadBalancer is denied',
    policy: POLICY,
    config: phiConfig({ deniedServiceTypes: ['LoadBalancer'] }),
    object: service('web', { type: 'NodePort' }),
    expect: 'allowed',
  },
  {
    name: 'ingress whose host is covered by its TLS entry',
    policy: POLICY,
    config: phiConfig(),
    object: securedIngress,
    expect: 'allowed',
  },
  {
    name: 'ingress with rules and no TLS',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('portal', { rules: [rule('portal.example.org')] }),
    expect: 'denied',
    reasons: ['noTLS'],
    messageIncludes: ['Ingress phi-records/portal: spec.tls: Ingress has rules but no TLS'],
  },
  {
    name: 'ingress host missing from the TLS hosts',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('portal', {
      rules: [rule('portal.example.org'), rule('api.example.org')],
      tls: tls('portal.example.org'),
    }),
    expect: 'denied',
    reasons: ['hostNotCovered'],
    messageIncludes: [
      'spec.rules[1].host: Ingress host "api.example.org" is not covered by any spec.tls[].hosts entry',
    ],
  },
  {
    name: 'ingress host covered by a one-label wildcard',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('portal', { rules: [rule('api.example.org')], tls: tls('*.example.org') }),
    expect: 'allowed',
  },
  {
    name: 'ingress host two labels below a wildcard',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('portal', { rules: [rule('v1.api.example.org')], tls: tls('*.example.org') }),
    expect: 'denied',
    reasons: ['hostNotCovered'],
  },
  {
    name: 'ingress apex host under a wildcard',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('portal', { rules: [rule('example.org')], tls: tls('*.example.org') }),
    expect: 'denied',
    reasons: ['hostNotCovered'],
  },
  {
    name: 'ingress wildcard rule host with the same wildcard in TLS',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('portal', { rules: [rule('*.example.org')], tls: tls('*.example.org') }),
    expect: 'allowed',
  },
  {
    name: 'ingress host and TLS host differ only in case',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('portal', {
      rules: [rule('Portal.Example.org')],
      tls: tls('portal.example.ORG'),
    }),
    expect: 'allowed',
  },
  {
    name: 'ingress rule without host beside a TLS entry',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('portal', { rules: [rule()], tls: [{ secretName: 'web-tls' }] }),
    expect: 'denied',
    reasons: ['ruleWithoutHost'],
    messageIncludes: ['spec.rules[0]: Ingress rule has no host'],
  },
  {
    name: 'ingress with a default backend',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('portal', {
      defaultBackend: { service: { name: 'web', port: { number: 443 } } },
      rules: [rule('portal.example.org')],
      tls: tls('portal.example.org'),
    }),
    expect: 'denied',
    reasons: ['defaultBackend'],
  },
  {
    name: 'extensions/v1beta1 ingress with spec.backend only',
    policy: POLICY,
    config: phiConfig(),
    object: ingress(
      'legacy',
      { backend: { serviceName: 'web', servicePort: 443 } },
      undefined,
      'extensions/v1beta1',
    ),
    expect: 'denied',
    reasons: ['defaultBackend'],
    messageIncludes: ['spec.backend: Ingress has a default backend'],
  },
  {
    name: 'ingress without rules or backend (serves nothing)',
    policy: POLICY,
    config: phiConfig(),
    object: ingress('empty', {}),
    expect: 'allowed',
  },
  {
    name: 'ingress annotated kubernetes.io/ingress.allow-http "true"',
    policy: POLICY,
    config: phiConfig(),
    object: {
      ...securedIngress,
      metadata: {
        name: 'portal',
        namespace: PHI,
        annotations: { 'kubernetes.io/ingress.allow-http': 'true' },
      },
    },
    expect: 'denied',
    reasons: ['plainHttp'],
    messageIncludes: ['metadata.annotations["kubernetes.io/ingress.allow-http"]'],
  },
  {
    name: 'ingress annotated ssl-redirect "false" for ingress-nginx',
    policy: POLICY,
    config: phiConfig(),
    object: {
      ...securedIngress,
      metadata: {
        name: 'portal',
        namespace: PHI,
        annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' },
      },
    },
    expect: 'denied',
    reasons: ['plainHttp'],
  },
  {
    name: 'ingress without allow-http "false" when requireHttpDisabled is on',
    policy: POLICY,
    config: phiConfig({ requireHttpDisabled: true }),
    object: securedIngress,
    expect: 'denied',
    reasons: ['plainHttp'],
    messageIncludes: ['does not set kubernetes.io/ingress.allow-http: "false"'],
  },
  {
    name: 'ingress with allow-http "false" when requireHttpDisabled is on',
    policy: POLICY,
    config: phiConfig({ requireHttpDisabled: true }),
    object: {
      ...securedIngress,
      metadata: {
        name: 'portal',
        namespace: PHI,
        annotations: { 'kubernetes.io/ingress.allow-http': 'false' },
      },
    },
    expect: 'allowed',
  },
  {
    name: 'LoadBalancer service relabelled, already a LoadBalancer before',
    policy: POLICY,
    config: phiConfig(),
    object: {
      ...loadBalancer,
      metadata: { name: 'web', namespace: PHI, labels: { tier: 'edge' } },
    },
    request: { operation: 'UPDATE', oldObject: loadBalancer },
    expect: 'warned',
    reasons: ['loadBalancer'],
    offline: false,
  },
  {
    name: 'LoadBalancer service in warn mode',
    policy: POLICY,
    config: phiConfig({}, 'warn'),
    object: loadBalancer,
    expect: 'warned',
    reasons: ['loadBalancer'],
  },
  {
    name: 'LoadBalancer service in audit mode',
    policy: POLICY,
    config: phiConfig({}, 'audit'),
    object: loadBalancer,
    expect: 'audited',
    reasons: ['loadBalancer'],
  },
  {
    name: 'LoadBalancer service covered by an exception',
    policy: POLICY,
    config: {
      ...phiConfig(),
      exceptions: [
        {
          name: 'hl7-gateway',
          policies: [POLICY],
          namespace: PHI,
          kind: 'Service',
          objectName: 'web',
          reason: 'internal NLB for the HL7 interface, TLS on the pod (RISK-12)',
          expires: '2099-06-30',
        },
      ],
    },
    object: loadBalancer,
    expect: 'excepted',
    reasons: ['loadBalancer'],
  },
];
