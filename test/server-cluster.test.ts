import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { clusterIntegration, mayHaveCluster } from '../src/server/cluster.js';
import { createLogger } from '../src/logging/logger.js';
import { definePolicy } from '../src/engine/policy.js';
import { registryOf } from '../src/engine/registry.js';
import { configMap } from './fixtures/test-policies.js';
import { admissionReview } from './fixtures/reviews.js';
import {
  HttpsClient,
  logCapture,
  sample,
  scrape,
  startTestServer,
  tempDir,
  type TestServer,
} from './fixtures/server.js';
import { FakeApiServer, type KubeObject } from './fixtures/fake-apiserver.js';
import { X509Certificate } from 'node:crypto';

/** Denies ConfigMaps in namespaces labelled `phi: "true"`, read from the namespace cache. */
const phiNamespacePolicy = definePolicy({
  id: 'phi-namespace',
  title: 'PHI namespace (test)',
  hipaa: ['164.312(a)(1)'],
  match: { kinds: ['ConfigMap'] },
  params: z.object({}).strict(),
  defaultMode: 'enforce',
  validate(ctx) {
    if (ctx.cluster.namespaceLabels(ctx.namespace)?.phi !== 'true') return [];
    return [
      { reason: 'phi', path: 'metadata.namespace', message: 'namespace holds PHI', fix: 'move it' },
    ];
  },
});

/**
 * A stand-in API server: answers the namespace list once `release()` is called, then holds the
 * watch open, as an API server does until its watch timeout.
 */
async function fakeApiServer(): Promise<{
  server: Server;
  url: string;
  release(): void;
  close(): Promise<void>;
}> {
  let release!: () => void;
  const released = new Promise<void>((done) => (release = done));
  const watches: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api/v1/namespaces') return void res.writeHead(404).end();
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      watches.push(res);
      return;
    }
    void released.then(() => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'NamespaceList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '10' },
          items: [
            { metadata: { name: 'clinical', labels: { phi: 'true' } } },
            { metadata: { name: 'tools', labels: {} } },
          ],
        }),
      );
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    release,
    close: () => {
      watches.forEach((w) => w.destroy());
      server.closeAllConnections();
      return new Promise((done) => server.close(() => done()));
    },
  };
}

function kubeConfigFor(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'phi-guard', token: 'not-a-real-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'phi-guard' }],
    currentContext: 'fake',
  });
  return kc;
}

describe('without a cluster', () => {
  const logger = createLogger({ level: 'silent' });

  it('runs alone and says so', async () => {
    const capture = logCapture();
    const options = await clusterIntegration({
      selfManagedCerts: false,
      logger: createLogger({ destination: capture.destination }),
      loadKube: () => undefined,
    });
    expect(options).toEqual({});
    expect(capture.lines[0]?.msg).toMatch(/^no cluster found/);
  });

  it('refuses the self-managed mode', async () => {
    const start = clusterIntegration({ selfManagedCerts: true, logger, loadKube: () => undefined });
    await expect(start).rejects.toThrow(/self-managed certificates need a cluster/);
  });

  it.each([
    ['nothing set and no ~/.kube/config', false, {}],
    ['KUBERNETES_SERVICE_HOST set (in a pod)', true, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }],
    ['KUBECONFIG naming a missing file', false, { KUBECONFIG: '/nonexistent/config' }],
  ])('mayHaveCluster: %s → %s', (_state, expected, env) => {
    const home = process.env.HOME;
    process.env.HOME = tempDir();
    try {
      expect(mayHaveCluster(env)).toBe(expected);
    } finally {
      process.env.HOME = home;
    }
  });
});

describe('with a cluster', () => {
  let api: Awaited<ReturnType<typeof fakeApiServer>> | undefined;
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    await api?.close();
  });

  it('readiness waits for the namespace cache, then policies read namespace labels', async () => {
    api = await fakeApiServer();
    const kubeConfig = kubeConfigFor(api.url);
    const cluster = await clusterIntegration({
      selfManagedCerts: false,
      logger: createLogger({ level: 'silent' }),
      loadKube: () => kubeConfig,
    });
    t = await startTestServer({ ...cluster, policies: registryOf([phiNamespacePolicy]) });

    const waiting = await t.client.get('/readyz');
    expect(waiting.status).toBe(503);
    expect(waiting.json.waitingFor).toEqual(['namespace-cache']);

    api.release();
    const deadline = Date.now() + 10_000;
    while ((await t.client.get('/readyz')).status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await t.client.get('/readyz')).status).toBe(200);

    const inPhi = await t.client.post('/validate', admissionReview(configMap('c', 'clinical')));
    const elsewhere = await t.client.post('/validate', admissionReview(configMap('c', 'tools')));
    expect(inPhi.json.response).toMatchObject({ allowed: false, status: { code: 403 } });
    expect(elsewhere.json.response.allowed).toBe(true);
  });
});

describe('self-managed certificates through the server', () => {
  let fake: FakeApiServer | undefined;
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    await fake?.close();
  });

  function webhookConfiguration(kind: 'Mutating' | 'Validating'): KubeObject {
    return {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: `${kind}WebhookConfiguration`,
      metadata: { name: 'phi-guard' },
      webhooks: [
        {
          name: `${kind.toLowerCase()}.phi-guard.io`,
          clientConfig: { service: { name: 'phi-guard', namespace: 'phi-guard', path: '/x' } },
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
        },
      ],
    };
  }

  it('serves the certificate from the Secret, trusted through the caBundle it patched', async () => {
    fake = await FakeApiServer.start();
    fake.putWebhookConfiguration('mutating', webhookConfiguration('Mutating'));
    fake.putWebhookConfiguration('validating', webhookConfiguration('Validating'));
    fake.putNamespace('clinical', { phi: 'true' });
    const kubeConfig = fake.kubeConfig();
    const cluster = await clusterIntegration({
      selfManagedCerts: true,
      logger: createLogger({ level: 'silent' }),
      env: { PHI_GUARD_NAMESPACE: 'phi-guard' },
      loadKube: () => kubeConfig,
    });
    t = await startTestServer({ ...cluster, policies: registryOf([phiNamespacePolicy]) });
    expect(t.server.certFile).toBeUndefined();

    // What the API server trusts: the caBundle phi-guard wrote into its webhook configuration.
    const hook = fake.webhookConfiguration('validating', 'phi-guard') as unknown as {
      webhooks: Array<{ clientConfig: { caBundle: string } }>;
    };
    const caBundle = Buffer.from(hook.webhooks[0]!.clientConfig.caBundle, 'base64').toString();
    const client = new HttpsClient(t.server.port, caBundle, {
      servername: 'phi-guard.phi-guard.svc',
    });
    try {
      const deadline = Date.now() + 10_000;
      while ((await client.get('/readyz')).status !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const answer = await client.post('/validate', admissionReview(configMap('c', 'clinical')));
      expect(answer.json.response).toMatchObject({ allowed: false, status: { code: 403 } });

      const secret = fake.secret('phi-guard', 'phi-guard-tls') as unknown as {
        data: Record<string, string>;
      };
      const served = new X509Certificate(Buffer.from(secret.data['tls.crt']!, 'base64'));
      expect(answer.certSerial).toBe(served.serialNumber);
      const expiry = new Date(served.validTo).getTime() / 1000;
      const metrics = await scrape(t.server.metricsPort);
      expect(sample(metrics, 'phi_guard_tls_certificate_expiry_timestamp_seconds')).toBe(expiry);
    } finally {
      client.close();
    }
  });
});
