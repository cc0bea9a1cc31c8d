/**
 * The server's ties to the cluster, when there is one (src/kube/client.ts finds it): the
 * namespace cache that policies read namespace labels from (readiness waits for its first sync)
 * and, when asked for and no certificate files are given, the self-managed certificates.
 * Without a cluster (a workstation, CI) the server runs alone: policies see no namespace labels.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { LOG_FIELD as F, LOG_MESSAGE } from '../logging/fields.js';
import type { Logger } from '../logging/logger.js';
import type { CertificateProvider } from './certificates.js';
import type { ServerOptions } from './start.js';

/** What cluster integration adds to the server's options. */
export type ClusterOptions = Pick<
  ServerOptions,
  'cluster' | 'readyWhen' | 'certificateProvider' | 'onClose'
>;

/** Environment variables of the self-managed mode; defaults match manifests/. */
export const CLUSTER_ENV = {
  namespace: 'PHI_GUARD_NAMESPACE',
  serviceName: 'PHI_GUARD_SERVICE_NAME',
  secretName: 'PHI_GUARD_CERT_SECRET',
  webhookConfigurations: 'PHI_GUARD_WEBHOOK_CONFIGURATIONS',
} as const;

// The kubelet mounts the pod's namespace beside the service account token.
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Options of {@link clusterIntegration}. */
export interface ClusterIntegrationOptions {
  /** `--self-managed-certs` / PHI_GUARD_SELF_MANAGED_CERTS. */
  selfManagedCerts: boolean;
  /** Certificate files given: they win over the self-managed mode. */
  tlsCertFile?: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Finds the cluster; src/kube/client.ts by default (tests pass their own). */
  loadKube?: () => KubeConfig | undefined;
}

/**
 * True when a cluster config may exist: in a pod, or with a kubeconfig file (the sources that
 * src/kube/client.ts reads). Only then is the Kubernetes client loaded, which costs about 75 MB
 * of memory and a second and a half of start-up that a server without a cluster has no use for.
 */
export function mayHaveCluster(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.KUBERNETES_SERVICE_HOST) return true;
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  return (files.length > 0 ? files : [join(homedir(), '.kube', 'config')]).some(existsSync);
}

/** Starts the cluster parts and returns them as server options; nothing without a cluster. */
export async function clusterIntegration(
  options: ClusterIntegrationOptions,
): Promise<ClusterOptions> {
  const kubeConfig = await findCluster(options);
  const selfManaged = options.selfManagedCerts && options.tlsCertFile === undefined;
  if (kubeConfig === undefined) {
    if (selfManaged) {
      throw new Error(
        'self-managed certificates need a cluster: found no in-cluster config or kubeconfig',
      );
    }
    options.logger.info({}, LOG_MESSAGE.noCluster);
    return {};
  }

  const { logger } = options;
  const { NamespaceCache } = await import('../kube/namespace-cache.js');
  const cache = new NamespaceCache({
    kubeConfig,
    onError: (err) => logger.warn({ [F.err]: err }, LOG_MESSAGE.namespaceCacheError),
  });
  // Not awaited: the first list can take long on a big cluster, and liveness must not wait for
  // it; readiness does (`readyWhen`). start() reports its own failures through onError.
  void cache.start();
  return {
    cluster: cache,
    readyWhen: { 'namespace-cache': cache.ready },
    onClose: () => cache.stop(),
    certificateProvider: selfManaged
      ? selfManagedProvider(kubeConfig, options.env ?? process.env, logger)
      : undefined,
  };
}

async function findCluster(options: ClusterIntegrationOptions): Promise<KubeConfig | undefined> {
  if (options.loadKube) return options.loadKube();
  if (!mayHaveCluster(options.env)) return undefined;
  const { loadKubeConfig } = await import('../kube/client.js');
  return loadKubeConfig();
}

function selfManagedProvider(
  kubeConfig: KubeConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): CertificateProvider {
  const configurations = listOf(env[CLUSTER_ENV.webhookConfigurations], ['phi-guard']);
  const settings = {
    kubeConfig,
    namespace: env[CLUSTER_ENV.namespace] || ownNamespace() || 'phi-guard',
    serviceName: env[CLUSTER_ENV.serviceName] || 'phi-guard',
    secretName: env[CLUSTER_ENV.secretName] || 'phi-guard-tls',
    mutatingWebhookConfigurations: configurations,
    validatingWebhookConfigurations: configurations,
  };
  const report = (result: { action: string; patched: string[] }) =>
    logger.info(
      { [F.action]: result.action, [F.patched]: result.patched, [F.secret]: settings.secretName },
      LOG_MESSAGE.selfManagedCertificates,
    );
  return async (storeOptions) => {
    const { startSelfManagedCertificates } = await import('../kube/self-managed-certs.js');
    const started = await startSelfManagedCertificates({
      ...settings,
      storeOptions,
      onResult: report,
      onError: (err) => logger.error({ [F.err]: err }, err.message),
    });
    report(started.result);
    return {
      store: started.store,
      close: () => {
        started.renewal.stop();
        started.store.close();
      },
    };
  };
}

function ownNamespace(): string | undefined {
  if (!existsSync(SERVICE_ACCOUNT_NAMESPACE)) return undefined;
  return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || undefined;
}

function listOf(value: string | undefined, fallback: string[]): string[] {
  const items = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return items.length > 0 ? items : fallback;
}
