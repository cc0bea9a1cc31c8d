/**
 * `phi-guard certs`: a development CA and a serving certificate for localhost (and any names
 * given), for running the webhook on a workstation or in kind. Not for production: there
 * cert-manager (or the self-managed overlay) issues the serving certificate.
 */
import { writeDevCertificates } from '../tls/certs.js';
import { DEFAULT_CERT_DIR } from '../server/certificates.js';
import { EXIT_CODES, PROCESS_IO, type CliIo, type ExitCode } from './output/io.js';

/** Folder `certs` writes to when `--out` is not given: the one `serve` reads (ignored by Git). */
export { DEFAULT_CERT_DIR };

/** Options of `phi-guard certs`. */
export interface CertsOptions {
  /** Folder for ca.crt, ca.key, tls.crt and tls.key. */
  out?: string;
  /** DNS names besides `localhost`, e.g. `phi-guard.phi-guard.svc`. */
  dnsNames?: string[];
  /** IP addresses besides 127.0.0.1 and ::1. */
  ipAddresses?: string[];
}

/** Writes (or keeps, while still valid) the development certificates and prints their paths. */
export async function runCerts(options: CertsOptions, io: CliIo = PROCESS_IO): Promise<ExitCode> {
  const dir = options.out ?? DEFAULT_CERT_DIR;
  const paths = await writeDevCertificates(dir, {
    dnsNames: options.dnsNames,
    ipAddresses: options.ipAddresses,
  });
  const what = paths.generated
    ? 'wrote new development certificates'
    : 'kept the existing certificates (still valid)';
  io.out(
    [
      `${what} in ${dir}:`,
      `  CA certificate:      ${paths.caCertPath}`,
      `  CA key:              ${paths.caKeyPath}`,
      `  serving certificate: ${paths.certPath}`,
      `  serving key:         ${paths.keyPath}`,
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}

/** Splits a comma-separated flag value (`a,b, c`) into its non-empty items. */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
