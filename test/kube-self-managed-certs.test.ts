/**
 * Self-managed certificates against test/fixtures/fake-apiserver.ts, which stands in for the
 * Kubernetes API server because none can run here: it speaks the same paths, status codes and
 * concurrency rules (409 on create and on a stale resourceVersion, 422 on a failed JSON Patch
 * test), and records every request so that the bodies and content types can be checked.
 */
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import { connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import fastJsonPatch from 'fast-json-patch';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  caBundlePatch,
  ensureCertificates,
  startRenewal,
  startSelfManagedCertificates,
  type SelfManagedCertsOptions,
} from '../src/kube/self-managed-certs.js';
import {
  certificateExpiry,
  coversNames,
  generateCa,
  generateServingCert,
  isIssuedBy,
  serviceDnsNames,
  splitPemBundle,
  type CertificatePair,
} from '../src/tls/certs.js';
import { CertStore } from '../src/tls/cert-store.js';
import { FakeApiServer, type KubeObject } from './fixtures/fake-apiserver.js';

const DAY_MS = 86_400_000;
const NS = 'phi-guard';
const SECRET = 'phi-guard-certs';
const SECRET_PATH = /^\/api\/v1\/namespaces\/phi-guard\/secrets/;
const WEBHOOK_PATH = /webhookconfigurations\/phi-guard$/;
const SERVICE_NAMES = serviceDnsNames('phi-guard', NS);
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS);
const b64 = (text: string) => Buffer.from(text).toString('base64');
const unb64 = (text: string) => Buffer.from(text, 'base64').toString('utf8');

function webhookConfiguration(kind: 'Mutating' | 'Validating', hooks: string[]): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: `${kind}WebhookConfiguration`,
    metadata: { name: 'phi-guard' },
    webhooks: hooks.map((name) => ({
      name,
      clientConfig: {
        service: { name: 'phi-guard', namespace: NS, path: `/${kind.toLowerCase()}`, port: 443 },
      },
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Fail',
      timeoutSeconds: 5,
    })),
  };
}

const MUTATING_HOOKS = ['mutate.phi-guard.io', 'mutate-ephemeral.phi-guard.io'];
const VALIDATING_HOOKS = ['validate.phi-guard.io'];

function secretHolding(
  caBundlePem: string,
  caKeyPem: string,
  serving: CertificatePair,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: SECRET, namespace: NS },
    type: 'kubernetes.io/tls',
    data: {
      'ca.crt': b64(caBundlePem),
      'ca.key': b64(caKeyPem),
      'tls.crt': b64(serving.certPem),
      'tls.key': b64(serving.keyPem),
    },
  };
}

function storedSecret(fake: FakeApiServer) {
  const data = (fake.secret(NS, SECRET)?.data ?? {}) as Record<string, string>;
  return {
    caBundlePem: unb64(data['ca.crt'] ?? ''),
    caKeyPem: unb64(data['ca.key'] ?? ''),
    certPem: unb64(data['tls.crt'] ?? ''),
    keyPem: unb64(data['tls.key'] ?? ''),
  };
}

function caBundles(fake: FakeApiServer): string[] {
  return (['mutating', 'validating'] as const).flatMap((kind) =>
    (
      fake.webhookConfiguration(kind, 'phi-guard')?.webhooks as Array<{
        clientConfig: { caBundle?: string };
      }>
    ).map((w) => w.clientConfig.caBundle ?? '(unset)'),
  );
}

/**
 * Connects as the API server does (by the Service's DNS name, trusting only the caBundle) to an
 * HTTPS server using `serving`; resolves the verification outcome.
 */
async function apiServerCanConnect(serving: CertificatePair, caBundleB64: string): Promise<string> {
  const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (_q, r) => r.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise((resolve) => {
      const socket = connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        servername: 'phi-guard.phi-guard.svc',
        ca: unb64(caBundleB64),
      });
      socket.on('secureConnect', () => (resolve('trusted'), socket.end()));
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('self-managed certificates', () => {
  let fake: FakeApiServer;
  let options: SelfManagedCertsOptions;

  beforeEach(async () => {
    fake = await FakeApiServer.start();
    fake.putWebhookConfiguration('mutating', webhookConfiguration('Mutating', MUTATING_HOOKS));
    fake.putWebhookConfiguration(
      'validating',
      webhookConfiguration('Validating', VALIDATING_HOOKS),
    );
    options = {
      kubeConfig: fake.kubeConfig(),
      namespace: NS,
      secretName: SECRET,
      serviceName: 'phi-guard',
      mutatingWebhookConfigurations: ['phi-guard'],
      validatingWebhookConfigurations: ['phi-guard'],
    };
  });
  afterEach(() => fake.close());

  it('no Secret yet: creates it and patches every webhook with the exact JSON Patch', async () => {
    const result = await ensureCertificates(options);

    expect(result.action).toBe('created');
    expect(result.patched).toEqual([
      'mutatingwebhookconfigurations/phi-guard',
      'validatingwebhookconfigurations/phi-guard',
    ]);
    const [create] = fake.requestsTo('POST', SECRET_PATH);
    expect(create).toMatchObject({ status: 201, contentType: 'application/json' });
    expect(create?.path).toBe('/api/v1/namespaces/phi-guard/secrets');
    expect(create?.body).toMatchObject({
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: SECRET, namespace: NS },
    });
    expect(Object.keys((create?.body as { data: object }).data).sort()).toEqual([
      'ca.crt',
      'ca.key',
      'tls.crt',
      'tls.key',
    ]);

    const stored = storedSecret(fake);
    expect(stored.certPem).toBe(result.serving.certPem);
    expect(coversNames(stored.certPem, SERVICE_NAMES)).toBe(true);
    expect(isIssuedBy(stored.certPem, stored.caBundlePem)).toBe(true);
    expect(new X509Certificate(stored.caBundlePem).ca).toBe(true);

    const caBundle = b64(result.caBundlePem);
    const patches = fake.requestsTo('PATCH', WEBHOOK_PATH);
    expect(patches.map((p) => [p.path, p.contentType, p.status])).toEqual([
      [
        '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/phi-guard',
        'application/json-patch+json',
        200,
      ],
      [
        '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/phi-guard',
        'application/json-patch+json',
        200,
      ],
    ]);
    expect(patches[0]?.body).toEqual([
      { op: 'test', path: '/webhooks/0/name', value: 'mutate.phi-guard.io' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: caBundle },
      { op: 'test', path: '/webhooks/1/name', value: 'mutate-ephemeral.phi-guard.io' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: caBundle },
    ]);
    expect(patches[1]?.body).toEqual([
      { op: 'test', path: '/webhooks/0/name', value: 'validate.phi-guard.io' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: caBundle },
    ]);
    expect(caBundles(fake)).toEqual([caBundle, caBundle, caBundle]);
    expect(await apiServerCanConnect(result.serving, caBundle)).toBe('trusted');
  });

  it('Secret and caBundles already in place: reads only, writes nothing', async () => {
    const first = await ensureCertificates(options);
    const writesBefore = fake.requests.filter((r) => r.method !== 'GET').length;

    const second = await ensureCertificates(options);

    expect(second).toMatchObject({
      action: 'unchanged',
      patched: [],
      caBundlePem: first.caBundlePem,
    });
    expect(second.serving).toEqual(first.serving);
    expect(fake.requests.filter((r) => r.method !== 'GET')).toHaveLength(writesBefore);
  });

  it('two replicas start at once with no Secret: one creates, the other takes its CA', async () => {
    fake.holdSecretReads(2);

    const [a, b] = await Promise.all([ensureCertificates(options), ensureCertificates(options)]);

    expect([a.action, b.action].sort()).toEqual(['created', 'unchanged']);
    expect(
      fake
        .requestsTo('POST', SECRET_PATH)
        .map((r) => r.status)
        .sort(),
    ).toEqual([201, 409]);
    expect(a.caBundlePem).toBe(b.caBundlePem);
    expect(a.serving).toEqual(b.serving);
    expect(storedSecret(fake).caBundlePem).toBe(a.caBundlePem);
    expect(caBundles(fake)).toEqual(Array(3).fill(b64(a.caBundlePem)));
  });

  describe('Secret holding certificates that need work', () => {
    const ca = generateCa();

    it.each([
      {
        state: 'serving certificate expires in 10 days',
        serving: () => generateServingCert(ca, { dnsNames: SERVICE_NAMES, now: daysAgo(355) }),
      },
      {
        state: "serving certificate lacks the Service's DNS names",
        serving: () => generateServingCert(ca, { dnsNames: ['localhost'] }),
      },
      {
        state: 'serving certificate from another CA',
        serving: () => generateServingCert(generateCa(), { dnsNames: SERVICE_NAMES }),
      },
      {
        state: 'serving key does not match the certificate',
        serving: () => ({
          certPem: generateServingCert(ca, { dnsNames: SERVICE_NAMES }).certPem,
          keyPem: generateServingCert(ca, { dnsNames: SERVICE_NAMES }).keyPem,
        }),
      },
    ])('$state: renews the serving certificate, keeps the CA', async ({ serving }) => {
      fake.putSecret(secretHolding(ca.certPem, ca.keyPem, serving()));
      const seededVersion = fake.secret(NS, SECRET)?.metadata.resourceVersion;

      const result = await ensureCertificates(options);

      expect(result.action).toBe('renewed');
      expect(result.caBundlePem.trim()).toBe(ca.certPem.trim());
      expect(isIssuedBy(result.serving.certPem, ca.certPem)).toBe(true);
      expect(coversNames(result.serving.certPem, SERVICE_NAMES)).toBe(true);
      const daysLeft = (certificateExpiry(result.serving.certPem).getTime() - Date.now()) / DAY_MS;
      expect(Math.round(daysLeft)).toBe(365);

      const [put] = fake.requestsTo('PUT', SECRET_PATH);
      expect(put).toMatchObject({
        status: 200,
        contentType: 'application/json',
        path: `/api/v1/namespaces/${NS}/secrets/${SECRET}`,
      });
      expect((put?.body as KubeObject).metadata.resourceVersion).toBe(seededVersion);
      expect(storedSecret(fake).certPem).toBe(result.serving.certPem);
      expect(await apiServerCanConnect(result.serving, caBundles(fake)[0]!)).toBe('trusted');
    });

    it('caBundles already hold the kept CA: renewing sends no PATCH', async () => {
      const caBundle = b64(`${ca.certPem.trim()}\n`);
      for (const [kind, hooks] of [
        ['mutating', MUTATING_HOOKS],
        ['validating', VALIDATING_HOOKS],
      ] as const) {
        const config = webhookConfiguration(kind === 'mutating' ? 'Mutating' : 'Validating', hooks);
        (config.webhooks as Array<{ clientConfig: { caBundle?: string } }>).forEach(
          (w) => (w.clientConfig.caBundle = caBundle),
        );
        fake.putWebhookConfiguration(kind, config);
      }
      fake.putSecret(
        secretHolding(
          ca.certPem,
          ca.keyPem,
          generateServingCert(ca, { dnsNames: SERVICE_NAMES, now: daysAgo(355) }),
        ),
      );

      const result = await ensureCertificates(options);

      expect(result).toMatchObject({ action: 'renewed', patched: [] });
      expect(fake.requestsTo('PATCH', WEBHOOK_PATH)).toHaveLength(0);
    });

    it('CA expires in 10 days: rotates it, keeping the old CA in the bundle until it expires', async () => {
      const oldCa = generateCa({ now: daysAgo(3640) });
      fake.putSecret(
        secretHolding(
          oldCa.certPem,
          oldCa.keyPem,
          generateServingCert(oldCa, { dnsNames: SERVICE_NAMES }),
        ),
      );

      const result = await ensureCertificates(options);

      expect(result.action).toBe('rotated');
      const [newCaPem, keptPem, ...rest] = splitPemBundle(result.caBundlePem);
      expect(rest).toEqual([]);
      expect(keptPem?.trim()).toBe(oldCa.certPem.trim());
      expect(isIssuedBy(result.serving.certPem, newCaPem!)).toBe(true);
      expect(Math.round((certificateExpiry(newCaPem!).getTime() - Date.now()) / DAY_MS)).toBe(3650);
      expect(caBundles(fake)).toEqual(Array(3).fill(b64(result.caBundlePem)));
      expect(await apiServerCanConnect(result.serving, caBundles(fake)[0]!)).toBe('trusted');
    });

    it('two replicas renew at once: one replace wins, the other re-reads and takes it', async () => {
      fake.putSecret(
        secretHolding(
          ca.certPem,
          ca.keyPem,
          generateServingCert(ca, { dnsNames: SERVICE_NAMES, now: daysAgo(355) }),
        ),
      );
      fake.holdSecretReads(2);

      const [a, b] = await Promise.all([ensureCertificates(options), ensureCertificates(options)]);

      expect([a.action, b.action].sort()).toEqual(['renewed', 'unchanged']);
      expect(
        fake
          .requestsTo('PUT', SECRET_PATH)
          .map((r) => r.status)
          .sort(),
      ).toEqual([200, 409]);
      expect(a.serving).toEqual(b.serving);
      expect(storedSecret(fake).certPem).toBe(a.serving.certPem);
    });
  });

  it('webhooks reordered between our read and our patch: the name test fails, we re-read', async () => {
    let reordered = false;
    fake.hooks.beforeWebhookPatch = (kind, config) => {
      if (kind !== 'mutating' || reordered) return;
      reordered = true;
      (config.webhooks as unknown[]).reverse();
    };

    const result = await ensureCertificates(options);

    const patches = fake.requestsTo('PATCH', /mutatingwebhookconfigurations/);
    expect(patches.map((p) => p.status)).toEqual([422, 200]);
    expect(patches[1]?.body).toEqual([
      { op: 'test', path: '/webhooks/0/name', value: 'mutate-ephemeral.phi-guard.io' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: b64(result.caBundlePem) },
      { op: 'test', path: '/webhooks/1/name', value: 'mutate.phi-guard.io' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: b64(result.caBundlePem) },
    ]);
    expect(caBundles(fake)).toEqual(Array(3).fill(b64(result.caBundlePem)));
  });

  it.each([
    {
      state: 'API server forbids reading the Secret',
      arrange: (f: FakeApiServer) => f.failNext('GET', SECRET_PATH, 403),
      error: /reading Secret phi-guard\/phi-guard-certs failed: HTTP 403 \(injected failure\)/,
    },
    {
      state: 'validating webhook configuration does not exist',
      arrange: (_f: FakeApiServer, o: SelfManagedCertsOptions) =>
        (o.validatingWebhookConfigurations = ['missing']),
      error: /reading validatingwebhookconfigurations\/missing failed: HTTP 404/,
    },
    {
      state: 'renewal window as long as the serving lifetime',
      arrange: (_f: FakeApiServer, o: SelfManagedCertsOptions) => (o.servingValidityDays = 30),
      error: /servingValidityDays \(30\) must be more than renewBeforeDays \(30\)/,
    },
    {
      state: 'API server refuses the patch',
      arrange: (f: FakeApiServer) => f.failNext('PATCH', WEBHOOK_PATH, 500),
      error: /patching mutatingwebhookconfigurations\/phi-guard failed: HTTP 500/,
    },
  ])('$state: fails naming the object and the status', async ({ arrange, error }) => {
    arrange(fake, options);
    await expect(ensureCertificates(options)).rejects.toThrow(error);
  });

  it('renewal loop: a run near expiry renews, hands the pair to the store, and reports failures', async () => {
    const results: string[] = [];
    const errors: Error[] = [];
    let clock = new Date();
    const started = await startSelfManagedCertificates({
      ...options,
      now: () => clock,
      onResult: (r) => results.push(r.action),
      onError: (e) => errors.push(e),
    });
    const { store, renewal } = started;
    try {
      expect(started.result.action).toBe('created');
      expect(store.certPem).toBe(started.result.serving.certPem);

      clock = new Date(Date.now() + 340 * DAY_MS);
      const renewed = await renewal.runNow();
      expect(renewed?.action).toBe('renewed');
      expect(store.certPem).toBe(renewed?.serving.certPem);
      expect(store.certPem).not.toBe(started.result.serving.certPem);

      fake.failNext('GET', SECRET_PATH, 500);
      expect(await renewal.runNow()).toBeUndefined();
      expect(errors.map((e) => (e.cause as Error).message)).toEqual([
        'reading Secret phi-guard/phi-guard-certs failed: HTTP 500 (injected failure)',
      ]);
      expect(results).toEqual(['renewed']);
    } finally {
      renewal.stop();
    }
  });

  it('renewal loop over an existing store: the timer fires on its own', async () => {
    const first = await ensureCertificates(options);
    const store = CertStore.fromPair(first.serving);
    const done = new Promise<string>((resolve) => {
      const renewal = startRenewal({
        ...options,
        store,
        intervalMs: 50,
        now: () => new Date(Date.now() + 340 * DAY_MS),
        onResult: (r) => (renewal.stop(), resolve(r.action)),
      });
    });
    expect(await done).toBe('renewed');
    expect(store.certPem).not.toBe(first.serving.certPem);
  });
});

describe('caBundlePatch', () => {
  it.each([
    { state: 'no webhook holds the bundle', bundles: [undefined, undefined], patched: [0, 1] },
    { state: 'one webhook holds an old bundle', bundles: ['b2xk', 'bmV3'], patched: [0] },
    { state: 'every webhook holds the bundle', bundles: ['bmV3', 'bmV3'], patched: [] },
  ])('$state: patches webhooks $patched, and the patch applies cleanly', ({ bundles, patched }) => {
    const doc = {
      webhooks: bundles.map((caBundle, i) => ({
        name: `hook-${i}`,
        clientConfig: caBundle ? { caBundle } : {},
      })),
    };
    const patch = caBundlePatch(doc.webhooks, 'bmV3');

    expect(patch.filter((op) => op.op === 'add').map((op) => op.path)).toEqual(
      patched.map((i) => `/webhooks/${i}/clientConfig/caBundle`),
    );
    const result = fastJsonPatch.applyPatch(structuredClone(doc), patch, true).newDocument;
    expect(result.webhooks.map((w) => w.clientConfig.caBundle)).toEqual(['bmV3', 'bmV3']);
  });
});
