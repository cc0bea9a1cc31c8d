/**
 * Finding the cluster: in a pod, the service account's in-cluster config; elsewhere, the user's
 * kubeconfig; with neither, no cluster at all (development mode runs without one).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * Loads a KubeConfig, or returns undefined when there is no cluster to talk to.
 *
 * - `KUBERNETES_SERVICE_HOST` set (kubelet sets it in every pod): the in-cluster config, i.e. the
 *   service account token and CA under /var/run/secrets/kubernetes.io/serviceaccount.
 * - else the files in `KUBECONFIG` (missing ones skipped, as kubectl does; the rest merged as
 *   client-node merges them, the first file's current context in effect) or `~/.kube/config`.
 * - else, or when the kubeconfig names no current cluster, undefined. client-node's own
 *   `loadFromDefault` would instead invent a config for http://localhost:8080, which turns
 *   "no cluster" into connection errors much later.
 */
export function loadKubeConfig(): KubeConfig | undefined {
  if (process.env.KUBERNETES_SERVICE_HOST) {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    return kc;
  }
  const [first, ...rest] = kubeconfigFiles().filter((file) => existsSync(file));
  if (first === undefined) return undefined;

  const kc = loadFile(first);
  for (const file of rest) {
    try {
      kc.mergeConfig(loadFile(file), true);
    } catch (err) {
      throw new Error(`kubeconfig ${file} does not merge with ${first}`, { cause: err });
    }
  }
  return kc.getCurrentCluster() ? kc : undefined;
}

function loadFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw new Error(`kubeconfig ${file} does not load`, { cause: err });
  }
  return kc;
}

function kubeconfigFiles(): string[] {
  const fromEnv = (process.env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  return fromEnv.length > 0 ? fromEnv : [join(homedir(), '.kube', 'config')];
}
