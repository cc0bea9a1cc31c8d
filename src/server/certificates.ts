/**
 * Where the serving certificate comes from, in order: a provider (the self-managed mode keeps it
 * in a Secret), files (cert-manager mounts `tls.crt` and `tls.key`), or a development CA and
 * certificate generated under the working directory so that `npm start` works on a fresh machine.
 * Every source ends in a CertStore that swaps the certificate without dropping connections.
 */
import { resolve } from 'node:path';
import { LOG_FIELD as F, LOG_MESSAGE } from '../logging/fields.js';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { CertStore, type CertStoreOptions } from '../tls/cert-store.js';
import { writeDevCertificates } from '../tls/certs.js';

/** Default folder of development certificates, under the working directory. */
export const DEFAULT_CERT_DIR = '.phi-guard/certs';

/** A certificate source other than files; `close` stops whatever keeps it current. */
export type CertificateProvider = (
  storeOptions: CertStoreOptions,
) => Promise<{ store: CertStore; close(): void }>;

/** What loadCertificates needs from the server's options. */
export interface CertificateOptions {
  tlsCertFile?: string;
  tlsKeyFile?: string;
  certDir?: string;
  certPollIntervalMs?: number;
  certificateProvider?: CertificateProvider;
}

/** The certificate store in use and the files behind it, if any. */
export interface LoadedCertificates {
  store: CertStore;
  close(): void;
  certFile?: string;
  keyFile?: string;
  /** The development CA, when development certificates are in use. */
  caFile?: string;
}

/** Loads the serving certificate; throws naming the files when they are not a usable pair. */
export async function loadCertificates(
  options: CertificateOptions,
  logger: Logger,
  metrics: Metrics,
): Promise<LoadedCertificates> {
  const storeOptions: CertStoreOptions = {
    pollIntervalMs: options.certPollIntervalMs,
    onReload: ({ expiry }) => {
      metrics.certificateExpiry.set(expiry.getTime() / 1000);
      logger.info({ [F.expires]: expiry.toISOString() }, LOG_MESSAGE.certificatesLoaded);
    },
    onError: (err) => logger.error({ [F.err]: err }, LOG_MESSAGE.certificateReloadFailed),
  };
  const loaded: LoadedCertificates = options.certificateProvider
    ? await options.certificateProvider(storeOptions)
    : await fromFiles(options, storeOptions, logger);

  const expiry = loaded.store.expiry;
  metrics.certificateExpiry.set(expiry.getTime() / 1000);
  logger.info(
    { [F.certFile]: loaded.certFile, [F.expires]: expiry.toISOString() },
    LOG_MESSAGE.certificatesLoaded,
  );
  return loaded;
}

async function fromFiles(
  options: CertificateOptions,
  storeOptions: CertStoreOptions,
  logger: Logger,
): Promise<LoadedCertificates> {
  const files = await certificateFiles(options, logger);
  try {
    const store = await CertStore.fromFiles(files.certFile, files.keyFile, storeOptions);
    return { store, close: () => store.close(), ...files };
  } catch (err) {
    throw new Error(`cannot use TLS certificate ${files.certFile} with key ${files.keyFile}`, {
      cause: err,
    });
  }
}

// Files given: use them. None: a development CA and serving certificate for localhost, kept in
// certDir across restarts so that a client trusting the CA keeps working.
async function certificateFiles(
  options: CertificateOptions,
  logger: Logger,
): Promise<{ certFile: string; keyFile: string; caFile?: string }> {
  const { tlsCertFile: certFile, tlsKeyFile: keyFile } = options;
  if (certFile !== undefined && keyFile !== undefined) return { certFile, keyFile };
  if (certFile !== undefined || keyFile !== undefined) {
    throw new Error(
      'give both a TLS certificate file and its key file, ' +
        'or neither (for development certificates)',
    );
  }
  const dir = resolve(options.certDir ?? DEFAULT_CERT_DIR);
  const dev = await writeDevCertificates(dir);
  logger.info(
    { [F.caFile]: dev.caCertPath, [F.certFile]: dev.certPath, [F.keyFile]: dev.keyPath },
    LOG_MESSAGE.devCertificates,
  );
  return { certFile: dev.certPath, keyFile: dev.keyPath, caFile: dev.caCertPath };
}
