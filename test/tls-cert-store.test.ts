import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { Agent, createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CertStore,
  TLS_MIN_VERSION,
  type CertReloadEvent,
  type CertStoreOptions,
} from '../src/tls/cert-store.js';
import { generateCa, generateServingCert, type CertificatePair } from '../src/tls/certs.js';

const ca = generateCa();
const issue = () =>
  generateServingCert(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
const fingerprint = (pair: CertificatePair) => new X509Certificate(pair.certPem).fingerprint256;

/** Records the store's callbacks and lets a test wait for the next one. */
function recorder() {
  const reloads: CertReloadEvent[] = [];
  const errors: Error[] = [];
  const waiters: Array<() => void> = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  const waitFor = (list: unknown[], count: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within 5 s`)), 5_000);
      const check = () => {
        if (list.length >= count) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  const options: CertStoreOptions = {
    onReload: (e) => (reloads.push(e), notify()),
    onError: (e) => (errors.push(e), notify()),
  };
  return {
    reloads,
    errors,
    options,
    reloaded: (count = reloads.length + 1) => waitFor(reloads, count, 'reload'),
    failed: (count = errors.length + 1) => waitFor(errors, count, 'error'),
  };
}

/** An HTTPS server answering from `store`, as the webhook server is meant to use it. */
async function serve(store: CertStore): Promise<{ server: Server; port: number }> {
  const server = createServer(
    {
      ...store.secureContextOptions(),
      SNICallback: store.sniCallback,
      minVersion: TLS_MIN_VERSION,
    },
    (_req, res) => res.end('ok'),
  );
  server.keepAliveTimeout = 30_000;
  store.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

interface Answer {
  status: number;
  /** SHA-256 fingerprint of the certificate the connection was opened with. */
  fingerprint: string;
  reusedSocket: boolean;
}

function get(port: number, host: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', agent, timeout: 5_000 }, (res) => {
      const socket = res.socket as TLSSocket;
      res.resume();
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          fingerprint: socket.getPeerCertificate().fingerprint256,
          reusedSocket: req.reusedSocket,
        }),
      );
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

// No TLS session cache: a resumed session shows no peer certificate, and each new connection
// must show the certificate its full handshake presented.
const newAgent = (keepAlive = false) =>
  new Agent({ ca: ca.certPem, keepAlive, maxSockets: 1, maxCachedSessions: 0 });

// Write then rename, as an editor or cert-manager's kubelet sync would.
async function replaceFile(path: string, data: string): Promise<void> {
  await writeFile(`${path}.tmp`, data);
  await rename(`${path}.tmp`, path);
}

/**
 * The layout kubelet gives a Secret volume (pkg/volume/util/atomic_writer.go): files are symlinks
 * through `..data` to a timestamped folder, and an update swaps `..data` in one rename.
 */
async function writeSecretVolume(dir: string, pair: CertificatePair, generation: number) {
  const versioned = `..2025_01_01_00_00_0${generation}`;
  await mkdir(join(dir, versioned));
  await writeFile(join(dir, versioned, 'tls.crt'), pair.certPem);
  await writeFile(join(dir, versioned, 'tls.key'), pair.keyPem);
  await symlink(versioned, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  if (generation === 0) {
    await symlink('..data/tls.crt', join(dir, 'tls.crt'));
    await symlink('..data/tls.key', join(dir, 'tls.key'));
  } else {
    await rm(join(dir, `..2025_01_01_00_00_0${generation - 1}`), { recursive: true });
  }
}

describe('CertStore over files', () => {
  let dir: string;
  let store: CertStore | undefined;
  let server: Server | undefined;
  const agents: Agent[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phi-guard-cert-store-'));
  });
  afterEach(async () => {
    agents.splice(0).forEach((a) => a.destroy());
    store?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await rm(dir, { recursive: true, force: true });
  });

  const agent = (keepAlive = false) => {
    const a = newAgent(keepAlive);
    agents.push(a);
    return a;
  };

  async function start(layout: 'plain files' | 'secret volume', options: CertStoreOptions) {
    const first = issue();
    if (layout === 'plain files') {
      await writeFile(join(dir, 'tls.crt'), first.certPem);
      await writeFile(join(dir, 'tls.key'), first.keyPem);
    } else {
      await writeSecretVolume(dir, first, 0);
    }
    store = await CertStore.fromFiles(join(dir, 'tls.crt'), join(dir, 'tls.key'), options);
    ({ server } = await serve(store));
    return { first, port: (server.address() as AddressInfo).port };
  }

  async function rewrite(layout: 'plain files' | 'secret volume', pair: CertificatePair) {
    if (layout === 'secret volume') return writeSecretVolume(dir, pair, 1);
    await replaceFile(join(dir, 'tls.key'), pair.keyPem);
    await replaceFile(join(dir, 'tls.crt'), pair.certPem);
  }

  it.each([
    { layout: 'plain files', host: 'localhost', state: 'client sends SNI' },
    { layout: 'plain files', host: '127.0.0.1', state: 'client connects by IP, no SNI' },
    { layout: 'secret volume', host: 'localhost', state: 'client sends SNI' },
    { layout: 'secret volume', host: '127.0.0.1', state: 'client connects by IP, no SNI' },
  ] as const)(
    '$layout rewritten, $state: new connections get the new certificate',
    async ({ layout, host }) => {
      const events = recorder();
      const { first, port } = await start(layout, events.options);
      const keepAlive = agent(true);
      const before = await get(port, host, keepAlive);
      expect(before).toMatchObject({ status: 200, fingerprint: fingerprint(first) });

      const second = issue();
      await rewrite(layout, second);
      await events.reloaded();
      expect(events.reloads.at(-1)?.source).toBe('files');
      expect(store?.expiry.getTime()).toBe(
        new Date(new X509Certificate(second.certPem).validTo).getTime(),
      );

      const fresh = await get(port, host, agent());
      expect(fresh).toMatchObject({
        status: 200,
        fingerprint: fingerprint(second),
        reusedSocket: false,
      });
      const kept = await get(port, host, keepAlive);
      expect(kept).toMatchObject({
        status: 200,
        fingerprint: fingerprint(first),
        reusedSocket: true,
      });
    },
  );

  it.each([
    {
      state: 'key of another certificate',
      write: (pair: CertificatePair) => replaceFile(join(dir, 'tls.key'), pair.keyPem),
      reason: /private key does not match/,
    },
    {
      state: 'half-written certificate',
      write: (pair: CertificatePair) =>
        replaceFile(join(dir, 'tls.crt'), pair.certPem.slice(0, 300)),
      reason: /certificate does not parse/,
    },
  ])('plain files get a $state: rejected, old certificate kept', async ({ write, reason }) => {
    const events = recorder();
    const { first, port } = await start('plain files', events.options);
    const expiry = store?.expiry;

    await write(issue());
    await events.failed();
    expect(events.errors[0]?.message).toMatch(
      /rejected the certificate in .*tls\.crt; still serving/,
    );
    expect((events.errors[0]?.cause as Error).message).toMatch(reason);
    expect(events.reloads).toHaveLength(0);
    expect(store?.expiry).toEqual(expiry);
    expect(await get(port, 'localhost', agent())).toMatchObject({
      fingerprint: fingerprint(first),
    });

    const repaired = issue();
    await rewrite('plain files', repaired);
    await events.reloaded();
    expect(await get(port, 'localhost', agent())).toMatchObject({
      fingerprint: fingerprint(repaired),
    });
  });

  it('directory watching off: the stat poll alone picks up the change', async () => {
    const events = recorder();
    const { port } = await start('secret volume', {
      ...events.options,
      watchDirectory: false,
      pollIntervalMs: 100,
    });
    const second = issue();
    await rewrite('secret volume', second);
    await events.reloaded();
    expect(await get(port, '127.0.0.1', agent())).toMatchObject({
      fingerprint: fingerprint(second),
    });
  });

  it('closed store: later changes on disk are ignored', async () => {
    const events = recorder();
    const { first, port } = await start('plain files', { ...events.options, pollIntervalMs: 50 });
    store?.close();
    await rewrite('plain files', issue());
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events.reloads).toHaveLength(0);
    expect(await get(port, 'localhost', agent())).toMatchObject({
      fingerprint: fingerprint(first),
    });
  });

  it('files missing at start: fromFiles throws naming them', async () => {
    await expect(CertStore.fromFiles(join(dir, 'tls.crt'), join(dir, 'tls.key'))).rejects.toThrow(
      /cannot read .*tls\.crt and .*tls\.key/,
    );
  });
});

describe('CertStore over an in-memory pair', () => {
  it.each([
    { state: 'client sends SNI', host: 'localhost' },
    { state: 'client connects by IP, no SNI', host: '127.0.0.1' },
  ])('update() with a new pair, $state: new connections get it', async ({ host }) => {
    const events = recorder();
    const first = issue();
    const store = CertStore.fromPair(first, events.options);
    const { server, port } = await serve(store);
    const agent = newAgent();
    try {
      expect(await get(port, host, agent)).toMatchObject({ fingerprint: fingerprint(first) });
      const second = issue();
      store.update(second);
      expect(events.reloads).toEqual([{ expiry: store.expiry, source: 'update' }]);
      expect(await get(port, host, agent)).toMatchObject({ fingerprint: fingerprint(second) });

      expect(() => store.update({ certPem: first.certPem, keyPem: second.keyPem })).toThrow(
        /private key does not match/,
      );
      expect(await get(port, host, agent)).toMatchObject({ fingerprint: fingerprint(second) });
    } finally {
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('fromPair with a mismatched key: throws', () => {
    const [a, b] = [issue(), issue()];
    expect(() => CertStore.fromPair({ certPem: a.certPem, keyPem: b.keyPem })).toThrow(
      /does not match/,
    );
  });
});
