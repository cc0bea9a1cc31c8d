/**
 * Certificates for the webhook's HTTPS server: a private CA and serving certificates signed by it
 * (node-forge builds and signs them; Node's native RSA key generation makes the keys), plus the
 * checks shared by the certificate store and the self-managed mode.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, chmod, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

/** A certificate and its private key, both PEM. */
export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

/** Options of {@link generateCa}. */
export interface CaOptions {
  /** Subject common name; default `phi-guard-ca`. */
  commonName?: string;
  /** Days from `now` until the CA expires; default {@link DEFAULT_CA_VALIDITY_DAYS}. */
  validityDays?: number;
  /** Issue time; default the current time (tests pin it to make old or expiring certificates). */
  now?: Date;
}

/** Options of {@link generateServingCert}. */
export interface ServingCertOptions {
  /** DNS names for subjectAltName; the first one is also the common name. */
  dnsNames: string[];
  /** IPv4 or IPv6 addresses for subjectAltName. */
  ipAddresses?: string[];
  /** Days from `now` until expiry, never past the CA's own expiry; default 365. */
  validityDays?: number;
  /** Issue time; default the current time. */
  now?: Date;
}

/** Default lifetime of a generated CA: ten years, because rotating it means a new caBundle. */
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
/** Default lifetime of a generated serving certificate. */
export const DEFAULT_SERVING_VALIDITY_DAYS = 365;
/** Names a development certificate always covers (the API server is not involved there). */
export const DEV_DNS_NAMES = ['localhost'] as const;
/** Addresses a development certificate always covers. */
export const DEV_IP_ADDRESSES = ['127.0.0.1', '::1'] as const;

const DAY_MS = 86_400_000;
// Back-dating notBefore absorbs clock skew between this pod and the API server.
const CLOCK_SKEW_MS = 5 * 60_000;
const RSA_BITS = 2048;

/** Generates a self-signed CA (RSA 2048) that may sign serving certificates. */
export function generateCa(options: CaOptions = {}): CertificatePair {
  const now = options.now ?? new Date();
  const keys = newRsaKeys();
  const name = [{ name: 'commonName', value: options.commonName ?? 'phi-guard-ca' }];
  const cert = newCertificate(
    keys.publicKey,
    now,
    options.validityDays ?? DEFAULT_CA_VALIDITY_DAYS,
  );

  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/**
 * Generates a serving certificate signed by `ca`, naming its hosts in subjectAltName: Go's TLS
 * client (the API server's) ignores the common name since Go 1.15.
 */
export function generateServingCert(
  ca: CertificatePair,
  options: ServingCertOptions,
): CertificatePair {
  const ips = options.ipAddresses ?? [];
  checkNames(options.dnsNames, ips);
  const caCert = parseForge(ca);
  const now = options.now ?? new Date();
  const keys = newRsaKeys();
  const cert = newCertificate(keys.publicKey, now, options.validityDays ?? 365);

  // A certificate outliving its issuer fails path validation anyway; clipping it makes the
  // renewal window of the serving certificate also cover the CA's expiry.
  if (cert.validity.notAfter > caCert.cert.validity.notAfter) {
    cert.validity.notAfter = new Date(caCert.cert.validity.notAfter.getTime());
  }
  cert.setSubject([{ name: 'commonName', value: options.dnsNames[0] ?? ips[0]! }]);
  cert.setIssuer(caCert.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: altNames(options.dnsNames, ips) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caKeyIdentifier(caCert.cert) },
  ]);
  cert.sign(caCert.key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** The expiry (notAfter) of a PEM certificate; throws when it does not parse. */
export function certificateExpiry(certPem: string): Date {
  return new Date(parseX509(certPem).validTo);
}

/** The in-cluster DNS names of a Service, shortest first, as a webhook clientConfig uses them. */
export function serviceDnsNames(
  service: string,
  namespace: string,
  clusterDomain = 'cluster.local',
): string[] {
  const svc = `${service}.${namespace}.svc`;
  return [service, `${service}.${namespace}`, svc, `${svc}.${clusterDomain}`];
}

/**
 * Checks that a pair is usable for TLS: both parse and the key belongs to the certificate.
 * Returns the parsed certificate; throws an Error saying what is wrong (never the key).
 */
export function checkPair(pair: CertificatePair): X509Certificate {
  const cert = parseX509(pair.certPem);
  let key;
  try {
    key = createPrivateKey(pair.keyPem);
  } catch (err) {
    throw new Error('private key does not parse as PEM', { cause: err });
  }
  if (!cert.checkPrivateKey(key)) {
    throw new Error(`private key does not match the certificate for ${cert.subject}`);
  }
  return cert;
}

/** True when the pair is usable ({@link checkPair}) and valid for `minRemainingMs` after `now`. */
export function validFor(pair: CertificatePair, minRemainingMs: number, now: Date): boolean {
  try {
    const cert = checkPair(pair);
    return new Date(cert.validTo).getTime() - now.getTime() > minRemainingMs;
  } catch {
    return false;
  }
}

/** True when `certPem` names every DNS name and IP in subjectAltName (Go ignores the CN). */
export function coversNames(
  certPem: string,
  dnsNames: readonly string[],
  ips: readonly string[] = [],
) {
  const cert = parseX509(certPem);
  const hostOk = dnsNames.every((n) => cert.checkHost(n, { subject: 'never' }) !== undefined);
  return hostOk && ips.every((ip) => cert.checkIP(ip) !== undefined);
}

/** True when `caPem` issued `certPem` and its signature verifies with the CA's public key. */
export function isIssuedBy(certPem: string, caPem: string): boolean {
  const cert = parseX509(certPem);
  const ca = parseX509(caPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/** Splits a PEM bundle into its certificates, in order. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function parseX509(certPem: string): X509Certificate {
  try {
    return new X509Certificate(certPem);
  } catch (err) {
    throw new Error('certificate does not parse as PEM X.509', { cause: err });
  }
}

function newRsaKeys() {
  // Node's native generator: node-forge's pure-JS one takes seconds for 2048 bits.
  // Known limitation: generation is synchronous and holds the event loop for about 100 ms (more
  // on a loaded machine); it runs at start-up and at renewal, about once a year per certificate.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: RSA_BITS });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    keyPem,
    privateKey: forge.pki.privateKeyFromPem(keyPem),
    publicKey: forge.pki.publicKeyFromPem(
      publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ),
  };
}

function newCertificate(publicKey: forge.pki.PublicKey, now: Date, validityDays: number) {
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new Error(`validityDays must be a positive number of days, got ${validityDays}`);
  }
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  return cert;
}

// RFC 5280 §4.1.2.2: a positive integer of at most 20 octets. A first octet in 0x01..0x7f keeps it
// positive and minimally DER-encoded, which Go's strict parser requires.
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function checkNames(dnsNames: readonly string[], ips: readonly string[]): void {
  if (dnsNames.length === 0 && ips.length === 0) {
    throw new Error('a serving certificate needs at least one DNS name or IP address');
  }
  const badIp = ips.find((ip) => isIP(ip) === 0);
  if (badIp !== undefined) throw new Error(`ipAddresses: "${badIp}" is not an IP address`);
  const badName = dnsNames.find((n) => n === '' || /[\s/]/.test(n));
  if (badName !== undefined) throw new Error(`dnsNames: "${badName}" is not a DNS name`);
}

// GeneralName tags from RFC 5280 §4.2.1.6: 2 is dNSName, 7 is iPAddress.
function altNames(dnsNames: readonly string[], ips: readonly string[]) {
  return [...dnsNames.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))];
}

function parseForge(ca: CertificatePair) {
  try {
    return {
      cert: forge.pki.certificateFromPem(ca.certPem),
      key: forge.pki.privateKeyFromPem(ca.keyPem),
    };
  } catch (err) {
    throw new Error('CA certificate or key does not parse (an RSA CA is required)', { cause: err });
  }
}

function caKeyIdentifier(caCert: forge.pki.Certificate): string {
  const ski = caCert.getExtension('subjectKeyIdentifier') as {
    subjectKeyIdentifier?: string;
  } | null;
  if (ski?.subjectKeyIdentifier) return forge.util.hexToBytes(ski.subjectKeyIdentifier);
  return caCert.generateSubjectKeyIdentifier().getBytes();
}

/** Options of {@link writeDevCertificates}. */
export interface DevCertificateOptions {
  /** DNS names besides `localhost`. */
  dnsNames?: string[];
  /** IP addresses besides `127.0.0.1` and `::1`. */
  ipAddresses?: string[];
  /** Lifetime of the serving certificate in days; default 365. */
  validityDays?: number;
  /** Current time; default now. */
  now?: Date;
}

/** Where {@link writeDevCertificates} put the files, and whether it generated new ones. */
export interface DevCertificatePaths {
  caCertPath: string;
  caKeyPath: string;
  certPath: string;
  keyPath: string;
  generated: boolean;
}

/** Files of a development set, named as in a `kubernetes.io/tls` Secret plus the CA. */
export const DEV_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
} as const;

// A kept serving certificate must stay valid at least this long; a kept CA this long.
const MIN_REMAINING_MS = DAY_MS;
const MIN_CA_REMAINING_MS = 30 * DAY_MS;

/**
 * Makes sure `dir` holds a development CA and a serving certificate for localhost, 127.0.0.1,
 * ::1 and any extra names: existing files are kept while the serving certificate is valid for
 * more than a day, names every host and chains to `ca.crt`; otherwise new ones are written
 * (keys mode 0600). An existing CA whose key is present is reused, so a browser or client that
 * trusts it keeps working.
 */
export async function writeDevCertificates(
  dir: string,
  options: DevCertificateOptions = {},
): Promise<DevCertificatePaths> {
  const paths = devPaths(dir);
  const now = options.now ?? new Date();
  const dnsNames = unique([...DEV_DNS_NAMES, ...(options.dnsNames ?? [])]);
  const ipAddresses = unique([...DEV_IP_ADDRESSES, ...(options.ipAddresses ?? [])]);
  const existing = await readDevFiles(paths, now);

  if (existing && usableServing(existing, dnsNames, ipAddresses, now)) {
    return { ...paths, generated: false };
  }
  const ca = existing?.ca ?? generateCa({ commonName: 'phi-guard-dev-ca', now });
  const serving = generateServingCert(ca, {
    dnsNames,
    ipAddresses,
    validityDays: options.validityDays ?? DEFAULT_SERVING_VALIDITY_DAYS,
    now,
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(paths.caCertPath, ca.certPem, 0o644);
  await writeAtomic(paths.caKeyPath, ca.keyPem, 0o600);
  await writeAtomic(paths.keyPath, serving.keyPem, 0o600);
  await writeAtomic(paths.certPath, serving.certPem, 0o644);
  return { ...paths, generated: true };
}

function devPaths(dir: string): Omit<DevCertificatePaths, 'generated'> {
  return {
    caCertPath: join(dir, DEV_FILES.caCert),
    caKeyPath: join(dir, DEV_FILES.caKey),
    certPath: join(dir, DEV_FILES.cert),
    keyPath: join(dir, DEV_FILES.key),
  };
}

interface DevFiles {
  caCertPem: string;
  serving?: CertificatePair;
  /** The CA pair, when its key is present, matches and the CA has a month left. */
  ca?: CertificatePair;
}

async function readDevFiles(paths: Omit<DevCertificatePaths, 'generated'>, now: Date) {
  const [caCertPem, caKeyPem, certPem, keyPem] = await Promise.all(
    [paths.caCertPath, paths.caKeyPath, paths.certPath, paths.keyPath].map(readOptional),
  );
  if (caCertPem === undefined) return undefined;
  const files: DevFiles = { caCertPem };
  if (certPem !== undefined && keyPem !== undefined) files.serving = { certPem, keyPem };
  if (
    caKeyPem !== undefined &&
    validFor({ certPem: caCertPem, keyPem: caKeyPem }, MIN_CA_REMAINING_MS, now)
  ) {
    files.ca = { certPem: caCertPem, keyPem: caKeyPem };
  }
  return files;
}

function usableServing(files: DevFiles, dnsNames: string[], ips: string[], now: Date): boolean {
  const serving = files.serving;
  if (!serving || !validFor(serving, MIN_REMAINING_MS, now)) return false;
  try {
    return (
      coversNames(serving.certPem, dnsNames, ips) && isIssuedBy(serving.certPem, files.caCertPem)
    );
  } catch {
    return false;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}`, { cause: err });
  }
}

// Write then rename: a CertStore watching the folder never reads a half-written file.
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
