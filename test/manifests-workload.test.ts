/**
 * What the install promises about phi-guard's own workload: availability (replicas, disruption
 * budget, spread, priority, autoscaling floor), hardening (non-root, read-only root, no
 * capabilities, seccomp), probes over HTTPS, a Service and NetworkPolicy that keep the API server
 * able to call in, least-privilege RBAC, and each certificate overlay wired end to end.
 */
import { describe, expect, it } from 'vitest';
import { render, type RenderedObject } from './fixtures/kustomize.js';

const CERT_OVERLAYS = ['cert-manager', 'self-managed'] as const;
const SERVICE_DNS_NAMES = ['phi-guard.phi-guard.svc', 'phi-guard.phi-guard.svc.cluster.local'];

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function one(objects: RenderedObject[], kind: string, name = 'phi-guard'): Json {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  expect(found, `${kind} ${name}`).toHaveLength(1);
  return found[0] as Json;
}

function container(objects: RenderedObject[]): Json {
  return one(objects, 'Deployment').spec.template.spec.containers[0];
}

function envOf(objects: RenderedObject[]): Record<string, string> {
  return Object.fromEntries((container(objects).env as Json[]).map((e) => [e.name, e.value]));
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

describe.each(CERT_OVERLAYS)('overlay %s: the phi-guard Deployment', (overlay) => {
  const objects = render(`overlays/${overlay}`);
  const deployment = one(objects, 'Deployment');
  const pod = deployment.spec.template.spec;
  const podLabels = deployment.spec.template.metadata.labels;

  it('runs 3 replicas and never drops one during a rollout', () => {
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(selects(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
  });

  it('spreads replicas over nodes (hard) and zones', () => {
    const keys = (pod.topologySpreadConstraints as Json[]).map((c) => [
      c.topologyKey,
      c.whenUnsatisfiable,
    ]);
    expect(keys).toContainEqual(['kubernetes.io/hostname', 'DoNotSchedule']);
    expect(keys.map(([k]) => k)).toContain('topology.kubernetes.io/zone');
    for (const c of pod.topologySpreadConstraints)
      expect(selects(c.labelSelector.matchLabels, podLabels)).toBe(true);
  });

  it('uses its own PriorityClass, not a system class restricted to kube-system', () => {
    const priority = one(objects, 'PriorityClass', pod.priorityClassName);
    expect(pod.priorityClassName).not.toMatch(/^system-/);
    expect(priority.value).toBeLessThanOrEqual(1_000_000_000);
    expect(priority.globalDefault).toBe(false);
  });

  it('runs as a numeric non-root user with RuntimeDefault seccomp', () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
  });

  it('has a read-only root filesystem, no privilege escalation and no capability', () => {
    expect(container(objects).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it.each([
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz'],
    ['startupProbe', '/healthz'],
  ])('%s GETs %s over HTTPS on the webhook port', (probe, path) => {
    expect(container(objects)[probe].httpGet).toEqual({ path, port: 'https', scheme: 'HTTPS' });
  });

  it('serves the webhook on 8443 and metrics on 9090, as its env says', () => {
    const ports = Object.fromEntries(
      (container(objects).ports as Json[]).map((p) => [p.name, p.containerPort]),
    );
    expect(ports).toEqual({ https: 8443, metrics: 9090 });
    expect(envOf(objects)).toMatchObject({
      PHI_GUARD_PORT: '8443',
      PHI_GUARD_METRICS_PORT: '9090',
    });
  });

  it('requests CPU and memory and limits memory', () => {
    const { requests, limits } = container(objects).resources;
    expect(Object.keys(requests).sort()).toEqual(['cpu', 'memory']);
    expect(limits.memory).toMatch(/^\d+Mi$/);
  });

  it('reads its config from the ConfigMap mounted as a folder (live reload needs no subPath)', () => {
    const config = envOf(objects).PHI_GUARD_CONFIG!;
    const volume = (pod.volumes as Json[]).find((v) => v.configMap?.name === 'phi-guard-config')!;
    const mount = (container(objects).volumeMounts as Json[]).find((m) => m.name === volume.name)!;
    expect(mount.subPath).toBeUndefined();
    expect(config).toBe(`${mount.mountPath}/config.yaml`);
    expect(Object.keys(one(objects, 'ConfigMap', 'phi-guard-config').data)).toEqual([
      'config.yaml',
    ]);
  });

  it('has writable folders only in memory-backed or size-limited emptyDirs', () => {
    for (const v of (pod.volumes as Json[]).filter((v) => v.emptyDir))
      expect(v.emptyDir.sizeLimit).toBeDefined();
  });

  it('pulls a pinned image (a version tag or a digest, never latest)', () => {
    expect(container(objects).image).toMatch(
      /^ghcr\.io\/phi-guard\/phi-guard(:(?!latest$)[\w][\w.-]*|@sha256:[0-9a-f]{64})$/,
    );
  });

  it('has a PodDisruptionBudget and an autoscaler whose floor is the replica count', () => {
    const pdb = one(objects, 'PodDisruptionBudget');
    expect(selects(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(pdb.spec.maxUnavailable).toBe(1);
    const hpa = one(objects, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'phi-guard',
    });
    expect(hpa.spec.minReplicas).toBe(deployment.spec.replicas);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
  });

  it('has a Service on 443 to the webhook port and 9090 to metrics', () => {
    const service = one(objects, 'Service');
    expect(selects(service.spec.selector, podLabels)).toBe(true);
    const ports = (service.spec.ports as Json[]).map((p) => [p.port, p.targetPort]);
    expect(ports).toEqual([
      [443, 'https'],
      [9090, 'metrics'],
    ]);
  });
});

describe('the NetworkPolicy', () => {
  const objects = render('base');
  const policy = one(objects, 'NetworkPolicy');
  const rules = policy.spec.ingress as Json[];
  const rulesFor = (port: number): Json[] =>
    rules.filter((r) => (r.ports as Json[]).some((p) => p.port === port));

  it('selects the phi-guard pods', () => {
    const podLabels = one(objects, 'Deployment').spec.template.metadata.labels;
    expect(selects(policy.spec.podSelector.matchLabels, podLabels)).toBe(true);
  });

  it('leaves the webhook port open to every source (the API server is outside the pod network)', () => {
    expect(rulesFor(8443).some((r) => r.from === undefined)).toBe(true);
  });

  it('opens the metrics port to the monitoring namespace only', () => {
    const sources = rulesFor(9090).map((r) => r.from);
    expect(sources).toEqual([
      [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
    ]);
  });
});

describe('RBAC is least privilege', () => {
  const RBAC_KINDS = ['ClusterRole', 'Role'];
  const rulesOf = (objects: RenderedObject[]): Array<[string, Json]> =>
    objects
      .filter((o) => RBAC_KINDS.includes(o.kind))
      .flatMap((o) =>
        ((o as Json).rules as Json[]).map((r): [string, Json] => [
          `${o.kind} ${o.metadata.name}`,
          r,
        ]),
      );

  it.each(CERT_OVERLAYS)('overlay %s: no wildcard verb, resource or group', (overlay) => {
    for (const [role, rule] of rulesOf(render(`overlays/${overlay}`))) {
      expect([...rule.verbs, ...rule.resources, ...rule.apiGroups], role).not.toContain('*');
    }
  });

  it('base: only list and watch namespaces (the namespace informer)', () => {
    expect(rulesOf(render('base')).map(([, r]) => r)).toEqual([
      { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
    ]);
  });

  it('self-managed: its one Secret and the caBundle of its two webhook configurations', () => {
    const added = rulesOf(render('overlays/self-managed')).filter(
      ([role]) => role !== 'ClusterRole phi-guard',
    );
    expect(added.map(([, r]) => r)).toEqual([
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['phi-guard-tls'],
        verbs: ['get', 'update'],
      },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
        resourceNames: ['phi-guard'],
        verbs: ['get', 'patch'],
      },
    ]);
    expect(added.filter(([role]) => role.startsWith('Role ')).length).toBe(2);
  });

  it.each(CERT_OVERLAYS)(
    'overlay %s: every binding grants to the phi-guard ServiceAccount alone',
    (overlay) => {
      const bindings = render(`overlays/${overlay}`).filter((o) =>
        o.kind.endsWith('Binding'),
      ) as Json[];
      expect(bindings.length).toBeGreaterThan(0);
      for (const b of bindings) {
        expect(b.subjects).toEqual([
          { kind: 'ServiceAccount', name: 'phi-guard', namespace: 'phi-guard' },
        ]);
      }
    },
  );
});

describe('certificate overlays', () => {
  it('cert-manager: the serving Certificate names the Service and is mounted where the env points', () => {
    const objects = render('overlays/cert-manager');
    const certificate = one(objects, 'Certificate', 'phi-guard-serving');
    expect(certificate.spec.dnsNames).toEqual(SERVICE_DNS_NAMES);
    expect(certificate.spec.issuerRef.name).toBe('phi-guard-ca');
    expect(one(objects, 'Issuer', 'phi-guard-ca').spec.ca.secretName).toBe(
      one(objects, 'Certificate', 'phi-guard-ca').spec.secretName,
    );

    const pod = one(objects, 'Deployment').spec.template.spec;
    const volume = (pod.volumes as Json[]).find(
      (v) => v.secret?.secretName === certificate.spec.secretName,
    )!;
    const mount = (pod.containers[0].volumeMounts as Json[]).find((m) => m.name === volume.name)!;
    expect(mount.readOnly).toBe(true);
    expect(envOf(objects)).toMatchObject({
      PHI_GUARD_TLS_CERT: `${mount.mountPath}/tls.crt`,
      PHI_GUARD_TLS_KEY: `${mount.mountPath}/tls.key`,
    });
  });

  it('cert-manager: cert-manager itself is never sent to phi-guard (it renews our certificate)', () => {
    for (const config of render('overlays/cert-manager').filter((o) =>
      o.kind.endsWith('WebhookConfiguration'),
    )) {
      for (const w of (config as Json).webhooks) {
        expect(w.namespaceSelector.matchExpressions[0].values).toContain('cert-manager');
      }
    }
  });

  it('self-managed: certificates are the server`s own job, no files are configured', () => {
    const env = envOf(render('overlays/self-managed'));
    expect(env.PHI_GUARD_SELF_MANAGED_CERTS).toBe('true');
    expect(env.PHI_GUARD_TLS_CERT).toBeUndefined();
    expect(env.PHI_GUARD_TLS_KEY).toBeUndefined();
  });

  it('phi-guard`s namespace enforces the restricted Pod Security Standard', () => {
    const labels = one(render('base'), 'Namespace').metadata.labels;
    expect(labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });
});
