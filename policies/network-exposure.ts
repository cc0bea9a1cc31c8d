/**
 * network-exposure: in namespaces that hold PHI, nothing is reachable from outside the cluster
 * except over TLS terminated by an Ingress.
 *
 * A namespace holds PHI when its name matches `phiNamespaces` (globs, default none) or its labels
 * match `phiNamespaceLabel` (`key=value`, or `key` for "has the label"; default
 * `phi-guard.io/phi=true`). Known limitation: labels come from the namespace cache; without it
 * only the names in `phiNamespaces` apply, because phi-guard never calls the API server per
 * request — list PHI namespaces by name too if the cache may be down.
 *
 * Service: `spec.type` in `deniedServiceTypes` (default LoadBalancer and NodePort: both open a
 * port on addresses outside the cluster network, with no TLS of ours in front) is denied, and so
 * are `spec.externalIPs` (`denyExternalIPs`, default true: nodes then route outside traffic to
 * the Service, CVE-2020-8554).
 *
 * Ingress (networking.k8s.io/v1, and the v1beta1 `spec.backend`):
 * - rules without any `spec.tls` entry are denied;
 * - each `rules[].host` must be covered by a `tls[].hosts` entry: the same name
 *   (case-insensitive), or a wildcard `*.example.com` covering exactly one label
 *   (`a.example.com`, not `example.com` nor `a.b.example.com`, RFC 6125 section 6.4.3);
 * - a rule without `host`, and a default backend (`spec.defaultBackend`), are denied: they answer
 *   any host name, and a `tls` entry can only name hosts (one without `hosts` means "the
 *   controller's default", which nothing in the object shows);
 * - annotations that make the controller serve plain HTTP beside HTTPS are denied:
 *   `kubernetes.io/ingress.allow-http: "true"` (GKE) and
 *   `nginx.ingress.kubernetes.io/ssl-redirect: "false"` (ingress-nginx). GKE serves HTTP unless
 *   `allow-http` is `"false"`; `requireHttpDisabled` (default false, turn it on for GKE) makes
 *   the annotation mandatory.
 * Known limitation: Gateway API listeners and routes are not judged, because their TLS is set on
 * the Gateway, often in another namespace.
 *
 * Namespaces that do not hold PHI are not judged at all.
 *
 * HIPAA: 164.312(e)(1) transmission security.
 */
import { z } from 'zod';
import { definePolicy, type Finding, type PolicyContext } from '../src/engine/policy.js';
import { getIn, isRecord, toFieldPath, type Segment } from '../src/engine/paths.js';
import { namespaceLabelParam, namespaceSelected } from '../src/engine/namespace-selector.js';

const SERVICE_TYPES = ['LoadBalancer', 'NodePort'] as const;

const params = z
  .object({
    phiNamespaces: z.array(z.string().min(1)).default([]),
    phiNamespaceLabel: namespaceLabelParam('phi-guard.io/phi=true'),
    deniedServiceTypes: z.array(z.enum(SERVICE_TYPES)).default([...SERVICE_TYPES]),
    denyExternalIPs: z.boolean().default(true),
    requireHttpDisabled: z.boolean().default(false),
  })
  .strict();

type Params = z.infer<typeof params>;

const GKE_ALLOW_HTTP = 'kubernetes.io/ingress.allow-http';
const NGINX_SSL_REDIRECT = 'nginx.ingress.kubernetes.io/ssl-redirect';

export default definePolicy({
  id: 'network-exposure',
  title: 'No node ports, load balancers or plain-HTTP Ingress in PHI namespaces',
  hipaa: ['164.312(e)(1)'],
  match: { kinds: ['Service', 'Ingress'] },
  params,
  defaultMode: 'enforce',
  validate(ctx) {
    if (!isRecord(ctx.object) || !holdsPhi(ctx)) return [];
    const spec = isRecord(ctx.object.spec) ? ctx.object.spec : {};
    return ctx.kind === 'Service' ? judgeService(spec, ctx.params) : judgeIngress(ctx, spec);
  },
});

function holdsPhi(ctx: PolicyContext<Params>): boolean {
  const { phiNamespaces, phiNamespaceLabel } = ctx.params;
  return namespaceSelected(ctx.cluster, ctx.namespace, phiNamespaces, phiNamespaceLabel);
}

function judgeService(spec: Record<string, unknown>, p: Params): Finding[] {
  const findings: Finding[] = [];
  const type = spec.type;
  if (typeof type === 'string' && (p.deniedServiceTypes as readonly string[]).includes(type)) {
    findings.push({
      reason: type === 'LoadBalancer' ? 'loadBalancer' : 'nodePort',
      path: 'spec.type',
      message: `Service type ${type} exposes it outside the cluster in a namespace that holds PHI`,
      fix: 'use type ClusterIP and publish it through an Ingress with TLS',
    });
  }
  if (p.denyExternalIPs && Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0) {
    findings.push({
      reason: 'externalIPs',
      path: 'spec.externalIPs',
      message: 'Service sets externalIPs, so nodes route outside traffic to it in a PHI namespace',
      fix: 'remove spec.externalIPs and publish the Service through an Ingress with TLS',
    });
  }
  return findings;
}

function judgeIngress(ctx: PolicyContext<Params>, spec: Record<string, unknown>): Finding[] {
  const rules = Array.isArray(spec.rules) ? spec.rules : [];
  const hasTls = hasTlsEntries(spec.tls);
  const tlsHosts = tlsHostsOf(spec.tls);
  const findings = [...defaultBackendFindings(spec), ...plainHttpFindings(ctx)];
  if (rules.length > 0 && !hasTls) {
    findings.push({
      reason: 'noTLS',
      path: 'spec.tls',
      message: 'Ingress has rules but no TLS, so it serves them over plain HTTP',
      fix: 'add spec.tls with a secretName and hosts covering every rule host',
    });
  }
  rules.forEach((rule: unknown, index) => {
    const finding = judgeRule(rule, ['spec', 'rules', index], tlsHosts, hasTls);
    if (finding) findings.push(finding);
  });
  return findings;
}

function judgeRule(
  rule: unknown,
  path: Segment[],
  tlsHosts: string[],
  hasTls: boolean,
): Finding | undefined {
  const host = isRecord(rule) ? rule.host : undefined;
  if (typeof host !== 'string' || host === '') {
    return {
      reason: 'ruleWithoutHost',
      path: toFieldPath(path),
      message:
        'Ingress rule has no host, so it answers any host name and no TLS entry can cover it',
      fix: 'set host on the rule and list that host under spec.tls[].hosts',
    };
  }
  if (!hasTls || tlsHosts.some((t) => covers(t, host))) return undefined;
  return {
    reason: 'hostNotCovered',
    path: toFieldPath([...path, 'host']),
    message: `Ingress host "${host}" is not covered by any spec.tls[].hosts entry`,
    fix: `add "${host}" (or a wildcard for its parent domain) to spec.tls[].hosts`,
  };
}

function defaultBackendFindings(spec: Record<string, unknown>): Finding[] {
  const field = isRecord(spec.defaultBackend)
    ? 'defaultBackend'
    : isRecord(spec.backend)
      ? 'backend'
      : undefined;
  if (!field) return [];
  return [
    {
      reason: 'defaultBackend',
      path: `spec.${field}`,
      message:
        'Ingress has a default backend, which answers any host name that no TLS entry can cover',
      fix: `remove spec.${field} and route named hosts through rules covered by spec.tls`,
    },
  ];
}

function plainHttpFindings(ctx: PolicyContext<Params>): Finding[] {
  const annotations = getIn(ctx.object, ['metadata', 'annotations']);
  const a = isRecord(annotations) ? annotations : {};
  const findings: Finding[] = [];
  const allowHttp = a[GKE_ALLOW_HTTP];
  if (allowHttp === 'true' || (ctx.params.requireHttpDisabled && allowHttp !== 'false')) {
    const setting =
      allowHttp === undefined
        ? `does not set ${GKE_ALLOW_HTTP}: "false"`
        : `sets ${GKE_ALLOW_HTTP}: ${JSON.stringify(allowHttp)}`;
    findings.push({
      reason: 'plainHttp',
      path: toFieldPath(['metadata', 'annotations', GKE_ALLOW_HTTP]),
      message: `Ingress ${setting}, so the load balancer serves plain HTTP too`,
      fix: `set the annotation ${GKE_ALLOW_HTTP}: "false"`,
    });
  }
  if (a[NGINX_SSL_REDIRECT] === 'false') {
    findings.push({
      reason: 'plainHttp',
      path: toFieldPath(['metadata', 'annotations', NGINX_SSL_REDIRECT]),
      message: `Ingress sets ${NGINX_SSL_REDIRECT}: "false": ingress-nginx serves plain HTTP too`,
      fix: `remove the annotation ${NGINX_SSL_REDIRECT} (HTTPS redirect is the default with TLS)`,
    });
  }
  return findings;
}

function hasTlsEntries(tls: unknown): boolean {
  return Array.isArray(tls) && tls.some(isRecord);
}

function tlsHostsOf(tls: unknown): string[] {
  if (!Array.isArray(tls)) return [];
  return tls.flatMap((entry: unknown) => {
    const hosts = isRecord(entry) ? entry.hosts : undefined;
    return Array.isArray(hosts) ? hosts.filter((h): h is string => typeof h === 'string') : [];
  });
}

/** True when a certificate name `tlsHost` covers the rule host (RFC 6125 6.4.3: one label). */
function covers(tlsHost: string, host: string): boolean {
  const t = tlsHost.toLowerCase();
  const h = host.toLowerCase();
  if (t === h) return true;
  if (!t.startsWith('*.') || h.startsWith('*.')) return false;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === t.slice(2);
}
