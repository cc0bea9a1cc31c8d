import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TLSSocket } from 'node:tls';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { generateCa, generateServingCert, type CertificatePair } from '../src/tls/certs.js';
import {
  HttpsClient,
  sample,
  scrape,
  startTestServer,
  tempDir,
  type TestServer,
} from './fixtures/server.js';
import { admissionReview, pod } from './fixtures/reviews.js';

function handshake(port: number, options: Record<string, unknown>): Promise<TLSSocket> {
  return new Promise((done, fail) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () =>
      done(socket),
    );
    socket.once('error', fail);
    socket.setTimeout(5_000, () => socket.destroy(new Error('handshake timed out')));
  });
}

describe('TLS with development certificates', () => {
  let t: TestServer;
  let ca: string;
  beforeAll(async () => {
    t = await startTestServer();
    ca = readFileSync(t.server.caFile!, 'utf8');
  });
  afterAll(async () => t?.close());

  it('writes the CA, certificate and key and logs their paths', () => {
    const line = t.logs.find((l) => l.caFile === t.server.caFile);
    expect(line).toMatchObject({ certFile: t.server.certFile, keyFile: t.server.keyFile });
    expect(t.server.caFile).toMatch(/ca\.crt$/);
  });

  it('a client trusting only the generated CA connects to localhost and 127.0.0.1', async () => {
    for (const servername of ['localhost', undefined]) {
      const socket = await handshake(t.server.port, { ca, servername });
      expect(socket.authorized).toBe(true);
      socket.destroy();
    }
  });

  it('a client trusting only the system CAs is refused the certificate', async () => {
    await expect(handshake(t.server.port, {})).rejects.toThrow(
      /self.signed|unable to (get|verify)/i,
    );
  });

  it.each([
    ['TLS 1.3', 'TLSv1.3', 'TLSv1.3'],
    ['TLS 1.2', 'TLSv1.2', 'TLSv1.2'],
  ])('a %s client negotiates %s', async (_name, maxVersion, protocol) => {
    const socket = await handshake(t.server.port, { ca, maxVersion });
    expect(socket.getProtocol()).toBe(protocol);
    socket.destroy();
  });

  it('a TLS 1.1 client is refused', async () => {
    // SECLEVEL=0 lets this client offer TLS 1.1 at all, so the refusal is the server's.
    const options = {
      ca,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    };
    await expect(handshake(t.server.port, options)).rejects.toThrow(/alert protocol version/i);
  });

  it('keeps connections alive across requests', async () => {
    const client = new HttpsClient(t.server.port, ca, { maxSockets: 1 });
    const first = await client.post('/validate', admissionReview(pod('a')));
    const second = await client.post('/mutate', admissionReview(pod('b')));
    const third = await client.get('/healthz');
    expect(first.headers.connection).toBe('keep-alive');
    expect(new Set([first.localPort, second.localPort, third.localPort]).size).toBe(1);
    client.close();
  });

  it('serves /metrics on the plain-HTTP port with process metrics and the certificate expiry', async () => {
    const text = await scrape(t.server.metricsPort);
    const expiry =
      new Date(new X509Certificate(readFileSync(t.server.certFile!)).validTo).getTime() / 1000;
    expect(sample(text, 'phi_guard_tls_certificate_expiry_timestamp_seconds')).toBe(expiry);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(sample(text, 'phi_guard_config_last_reload_success_timestamp_seconds')).toBeGreaterThan(
      1e9,
    );
  });
});

describe('TLS certificate reload through the server', () => {
  let t: TestServer;
  let dir: string;
  let ca: CertificatePair;

  function writePair(pair: CertificatePair): void {
    // Written beside and renamed, as cert-manager's kubelet volume update does atomically.
    writeFileSync(join(dir, 'tls.key.new'), pair.keyPem);
    writeFileSync(join(dir, 'tls.crt.new'), pair.certPem);
    renameSync(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
    renameSync(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));
  }

  beforeAll(async () => {
    dir = tempDir();
    ca = generateCa();
    writePair(
      generateServingCert(ca, {
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        validityDays: 30,
      }),
    );
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    t = await startTestServer(
      { tlsCertFile: join(dir, 'tls.crt'), tlsKeyFile: join(dir, 'tls.key') },
      ca.certPem,
    );
  });
  afterAll(async () => t?.close());

  it('new connections get the new certificate; open ones keep working', async () => {
    const client = new HttpsClient(t.server.port, ca.certPem, { maxSockets: 1 });
    const before = await client.post('/validate', admissionReview(pod('a')));
    const renewed = generateServingCert(ca, {
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityDays: 90,
    });
    const renewedSerial = new X509Certificate(renewed.certPem).serialNumber;
    expect(before.certSerial).not.toBe(renewedSerial);

    writePair(renewed);
    await waitFor(async () => {
      const fresh = new HttpsClient(t.server.port, ca.certPem);
      const answer = await fresh.get('/healthz');
      fresh.close();
      return answer.certSerial === renewedSerial;
    });

    const after = await client.post('/validate', admissionReview(pod('b')));
    expect(after.status).toBe(200);
    expect(after.localPort).toBe(before.localPort);
    expect(after.certSerial).toBe(before.certSerial);
    const expiry = new Date(new X509Certificate(renewed.certPem).validTo).getTime() / 1000;
    expect(
      sample(
        await scrape(t.server.metricsPort),
        'phi_guard_tls_certificate_expiry_timestamp_seconds',
      ),
    ).toBe(expiry);
    client.close();
  });

  it('a broken certificate on disk is rejected and the last good one stays', async () => {
    const served = (await t.client.get('/healthz')).certSerial;
    writeFileSync(join(dir, 'tls.crt'), 'not a certificate');
    await waitFor(async () =>
      t.logs.some((l) => l.msg === 'TLS certificate reload failed; keeping the previous one'),
    );
    const fresh = new HttpsClient(t.server.port, ca.certPem);
    expect((await fresh.get('/healthz')).certSerial).toBe(served);
    fresh.close();
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}
