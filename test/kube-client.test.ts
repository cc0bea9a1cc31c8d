import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadKubeConfig } from '../src/kube/client.js';

function kubeconfig(cluster: string, server: string, withCurrentContext = true) {
  return [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: ${cluster}, cluster: {server: '${server}'}}]`,
    `users: [{name: ${cluster}-user, user: {token: not-a-real-token}}]`,
    `contexts: [{name: ${cluster}, context: {cluster: ${cluster}, user: ${cluster}-user}}]`,
    withCurrentContext ? `current-context: ${cluster}` : '',
  ].join('\n');
}

describe('loadKubeConfig', () => {
  let home: string;

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'phi-guard-home-'));
    vi.stubEnv('HOME', home);
    vi.stubEnv('KUBECONFIG', '');
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '');
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await rm(home, { recursive: true, force: true });
  });

  const write = async (name: string, text: string) => {
    const path = join(home, name);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, text);
    return path;
  };

  it('no service host, no KUBECONFIG, no ~/.kube/config: undefined (dev mode)', () => {
    expect(loadKubeConfig()).toBeUndefined();
  });

  it('KUBERNETES_SERVICE_HOST set: the in-cluster service account config', () => {
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.96.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '443');
    const kc = loadKubeConfig();
    expect(kc?.getCurrentCluster()).toMatchObject({
      server: 'https://10.96.0.1:443',
      caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
    });
  });

  it('~/.kube/config present: loads it', async () => {
    await write('.kube/config', kubeconfig('dev', 'https://127.0.0.1:6443'));
    expect(loadKubeConfig()?.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
  });

  it('KUBECONFIG lists a missing file then two real ones: merges them, first context wins', async () => {
    const a = await write('a.yaml', kubeconfig('a', 'https://a.example:6443'));
    const b = await write('b.yaml', kubeconfig('b', 'https://b.example:6443'));
    vi.stubEnv('KUBECONFIG', [join(home, 'missing.yaml'), a, b].join(delimiter));
    const kc = loadKubeConfig();
    expect(kc?.getCurrentCluster()?.server).toBe('https://a.example:6443');
    expect(kc?.getClusters().map((c) => c.name)).toEqual(['a', 'b']);
  });

  it('KUBECONFIG names only missing files: undefined', () => {
    vi.stubEnv('KUBECONFIG', join(home, 'missing.yaml'));
    expect(loadKubeConfig()).toBeUndefined();
  });

  it('kubeconfig without a current context: undefined', async () => {
    await write('.kube/config', kubeconfig('dev', 'https://127.0.0.1:6443', false));
    expect(loadKubeConfig()).toBeUndefined();
  });

  it('kubeconfig that is not YAML: throws naming the file', async () => {
    const path = await write('.kube/config', 'clusters: [unclosed');
    expect(() => loadKubeConfig()).toThrow(`kubeconfig ${path} does not load`);
  });
});
