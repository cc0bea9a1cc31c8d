import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  certificateExpiry,
  checkPair,
  coversNames,
  generateCa,
  generateServingCert,
  isIssuedBy,
  serviceDnsNames,
  writeDevCertificates,
  type CertificatePair,
} from '../src/tls/certs.js';
import { TLS_MIN_VERSION } from '../src/tls/cert-store.js';

const DAY_MS = 86_400_000;
const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';

const ca = generateCa();
const serving = generateServingCert(ca, {
  dnsNames: ['localhost', ...serviceDnsNames('phi-guard', 'phi-guard')],
  ipAddresses: ['127.0.0.1', '::1'],
});

describe('generateCa', () => {
  const cert = new X509Certificate(ca.certPem);

  it('is a CA whose key matches and which signed itself', () => {
    expect(cert.ca).toBe(true);
    expect(checkPair(ca).subject).toContain('CN=phi-guard-ca');
    expect(cert.verify(cert.publicKey)).toBe(true);
  });

  it('has a positive, minimally encoded serial number', () => {
    expect(Number.parseInt(cert.serialNumber.slice(0, 2), 16)).toBeGreaterThan(0);
    expect(Number.parseInt(cert.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
  });

  it('starts a few minutes in the past to absorb clock skew', () => {
    const notBefore = new Date(cert.validFrom).getTime();
    expect(Date.now() - notBefore).toBeGreaterThanOrEqual(4 * 60_000);
    expect(Date.now() - notBefore).toBeLessThan(10 * 60_000);
  });
});

describe('generateServingCert', () => {
  const cert = new X509Certificate(serving.certPem);
  const caCert = new X509Certificate(ca.certPem);

  it('is issued by the CA and its signature verifies with the CA public key', () => {
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(isIssuedBy(serving.certPem, ca.certPem)).toBe(true);
  });

  it('is not verified by another CA', () => {
    const other = generateCa();
    expect(cert.verify(new X509Certificate(other.certPem).publicKey)).toBe(false);
    expect(isIssuedBy(serving.certPem, other.certPem)).toBe(false);
  });

  it('names every DNS name and IP in subjectAltName, for serverAuth', () => {
    const san = cert.subjectAltName ?? '';
    for (const name of [
      'localhost',
      'phi-guard.phi-guard.svc.cluster.local',
      'phi-guard.phi-guard',
    ]) {
      expect(san).toContain(`DNS:${name}`);
    }
    expect(san).toContain('IP Address:127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.keyUsage).toEqual([SERVER_AUTH_OID]);
    expect(coversNames(serving.certPem, ['phi-guard.phi-guard.svc'], ['127.0.0.1'])).toBe(true);
    expect(coversNames(serving.certPem, ['other.example'])).toBe(false);
  });

  it.each([
    { state: 'validity shorter than the CA', days: 30, expectedDays: 30 },
    { state: 'validity longer than the CA', days: 20_000, expectedDays: 3650 },
  ])('$state ends after $expectedDays days', ({ days, expectedDays }) => {
    const pair = generateServingCert(ca, { dnsNames: ['a.example'], validityDays: days });
    const remaining = certificateExpiry(pair.certPem).getTime() - Date.now();
    expect(Math.round(remaining / DAY_MS)).toBe(expectedDays);
  });

  it.each([
    { state: 'no names at all', options: { dnsNames: [] }, error: /at least one DNS name/ },
    {
      state: 'an IP address that is not one',
      options: { dnsNames: ['a'], ipAddresses: ['300.1.1.1'] },
      error: /"300.1.1.1" is not an IP address/,
    },
    {
      state: 'a DNS name with a space',
      options: { dnsNames: ['a b'] },
      error: /"a b" is not a DNS name/,
    },
    {
      state: 'a validity of zero days',
      options: { dnsNames: ['a'], validityDays: 0 },
      error: /validityDays must be a positive number of days, got 0/,
    },
  ])('refuses $state', ({ options, error }) => {
    expect(() => generateServingCert(ca, options)).toThrow(error);
  });
});

describe('checkPair', () => {
  it.each([
    {
      state: 'key of another certificate',
      pair: { ...serving, keyPem: ca.keyPem },
      error: /does not match/,
    },
    {
      state: 'truncated certificate',
      pair: { ...serving, certPem: serving.certPem.slice(0, 200) },
      error: /does not parse/,
    },
    {
      state: 'truncated key',
      pair: { ...serving, keyPem: serving.keyPem.slice(0, 200) },
      error: /private key does not parse/,
    },
  ])('refuses a pair with a $state', ({ pair, error }) => {
    expect(() => checkPair(pair)).toThrow(error);
  });
});

describe('serviceDnsNames', () => {
  it('lists the short, namespaced, svc and cluster-domain names', () => {
    expect(serviceDnsNames('hook', 'sec')).toEqual([
      'hook',
      'hook.sec',
      'hook.sec.svc',
      'hook.sec.svc.cluster.local',
    ]);
  });
});

/** Server options for a pair. */
function tlsOptions(pair: CertificatePair) {
  return { cert: pair.certPem, key: pair.keyPem };
}

/** Result of one HTTPS GET: the status, or the TLS error code that stopped it. */
function httpsGet(port: number, host: string, ca?: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = get({ host, port, path: '/', ca, agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

describe('a real HTTPS server with the serving certificate', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer({ ...tlsOptions(serving), minVersion: TLS_MIN_VERSION }, (_req, res) =>
      res.end('ok'),
    );
    await new Promise<void>((resolve) => server.listen(0, '::', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each([
    {
      state: 'client trusts only the CA, connects to localhost',
      host: 'localhost',
      trust: 'ca',
      expected: 200,
    },
    {
      state: 'client trusts only the CA, connects to 127.0.0.1',
      host: '127.0.0.1',
      trust: 'ca',
      expected: 200,
    },
    {
      state: 'client trusts only the CA, connects to ::1',
      host: '::1',
      trust: 'ca',
      expected: 200,
    },
    {
      state: 'client trusts the system roots only',
      host: 'localhost',
      trust: 'system',
      expected: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    },
    {
      state: 'client trusts another CA only',
      host: 'localhost',
      trust: 'other',
      expected: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    },
  ])('$state: $expected', async ({ host, trust, expected }) => {
    const trusted = { ca: ca.certPem, system: undefined, other: generateCa().certPem }[trust];
    expect(await httpsGet(port, host, trusted)).toBe(expected);
  });

  it('client names a host the certificate does not cover: refused', async () => {
    const pair = generateServingCert(ca, { dnsNames: ['elsewhere.example'] });
    const other = createServer(tlsOptions(pair), (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherPort = (other.address() as AddressInfo).port;
    try {
      expect(await httpsGet(otherPort, 'localhost', ca.certPem)).toBe(
        'ERR_TLS_CERT_ALTNAME_INVALID',
      );
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });
});

describe('writeDevCertificates', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phi-guard-dev-certs-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const read = async (file: string) => readFile(join(dir, file), 'utf8');
  const pairOnDisk = async (): Promise<CertificatePair> => ({
    certPem: await read('tls.crt'),
    keyPem: await read('tls.key'),
  });

  it('fresh folder: writes a CA and a localhost certificate, keys readable by the owner only', async () => {
    const result = await writeDevCertificates(join(dir, 'nested'), { dnsNames: ['dev.local'] });
    expect(result.generated).toBe(true);
    for (const key of [result.keyPath, result.caKeyPath]) {
      expect((await stat(key)).mode & 0o777).toBe(0o600);
    }
    const pair = {
      certPem: await readFile(result.certPath, 'utf8'),
      keyPem: await readFile(result.keyPath, 'utf8'),
    };
    checkPair(pair);
    expect(isIssuedBy(pair.certPem, await readFile(result.caCertPath, 'utf8'))).toBe(true);
    expect(coversNames(pair.certPem, ['localhost', 'dev.local'], ['127.0.0.1', '::1'])).toBe(true);
  });

  it('valid files: keeps them', async () => {
    expect((await writeDevCertificates(dir)).generated).toBe(true);
    const before = await pairOnDisk();
    expect((await writeDevCertificates(dir)).generated).toBe(false);
    expect(await pairOnDisk()).toEqual(before);
  });

  it.each([
    {
      state: 'serving certificate expires within a day',
      options: { now: new Date(Date.now() + 364.5 * DAY_MS) },
      keepsCa: true,
    },
    { state: 'an extra name is not covered', options: { dnsNames: ['new.local'] }, keepsCa: true },
    { state: 'serving key is half written', corrupt: 'tls.key', keepsCa: true },
    { state: 'CA certificate is garbage', corrupt: 'ca.crt', keepsCa: false },
  ])('$state: regenerates', async ({ options, corrupt, keepsCa }) => {
    await writeDevCertificates(dir);
    const caBefore = await read('ca.crt');
    const before = await pairOnDisk();
    if (corrupt) await writeFile(join(dir, corrupt), before.keyPem.slice(0, 100));

    expect((await writeDevCertificates(dir, options)).generated).toBe(true);
    const after = await pairOnDisk();
    expect(after.certPem).not.toBe(before.certPem);
    checkPair(after);
    expect((await read('ca.crt')) === caBefore).toBe(keepsCa);
    expect(isIssuedBy(after.certPem, await read('ca.crt'))).toBe(true);
  });
});
