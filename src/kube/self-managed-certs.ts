/**
 * Self-managed certificates, for clusters without cert-manager: the replicas keep a CA and a
 * serving certificate in one Secret of their namespace, and patch the CA into the `caBundle` of
 * phi-guard's webhook configurations so that the API server trusts the serving certificate.
 *
 * Every replica runs the same steps; the API server's optimistic concurrency makes them agree:
 * a create that loses (409 AlreadyExists) and a replace that loses (409 Conflict on a stale
 * resourceVersion) both re-read the Secret and take the winner's certificates
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions).
 *
 * RBAC this needs: secrets get/update (resourceNames: the Secret) and create in the namespace;
 * mutating- and validatingwebhookconfigurations get/patch (resourceNames: the configurations).
 */
import { X509Certificate } from 'node:crypto';
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Secret,
} from '@kubernetes/client-node';
import { CertStore, type CertStoreOptions } from '../tls/cert-store.js';
import {
  DEFAULT_CA_VALIDITY_DAYS,
  DEFAULT_SERVING_VALIDITY_DAYS,
  coversNames,
  generateCa,
  generateServingCert,
  isIssuedBy,
  serviceDnsNames,
  splitPemBundle,
  validFor,
  type CertificatePair,
} from '../tls/certs.js';

/** Options of the self-managed mode. */
export interface SelfManagedCertsOptions {
  /** Where the API server is and who we are there. */
  kubeConfig: KubeConfig;
  /** Namespace of phi-guard, its Service and the Secret. */
  namespace: string;
  /** Name of the Secret holding `ca.crt`, `ca.key`, `tls.crt` and `tls.key`. */
  secretName: string;
  /** Name of the Service the webhook configurations call; its DNS names go into the certificate. */
  serviceName: string;
  /** MutatingWebhookConfigurations whose every webhook gets the caBundle. */
  mutatingWebhookConfigurations?: string[];
  /** ValidatingWebhookConfigurations whose every webhook gets the caBundle. */
  validatingWebhookConfigurations?: string[];
  /** Renew the serving certificate (and rotate the CA) this many days before expiry; default 30. */
  renewBeforeDays?: number;
  /** Lifetime of a new serving certificate; default 365 days. */
  servingValidityDays?: number;
  /** Lifetime of a new CA; default 3650 days. */
  caValidityDays?: number;
  /** Cluster DNS domain; default `cluster.local`. */
  clusterDomain?: string;
  /** Clock, for tests. */
  now?: () => Date;
}

/** What {@link ensureSecret} did: created the Secret, renewed the serving cert, rotated the CA. */
export const CERTIFICATE_ACTIONS = ['created', 'renewed', 'rotated', 'unchanged'] as const;
/** One of {@link CERTIFICATE_ACTIONS}. */
export type CertificateAction = (typeof CERTIFICATE_ACTIONS)[number];

/** The certificates in the Secret after {@link ensureSecret}. */
export interface SecretCertificates {
  /** The serving pair for the HTTPS server. */
  serving: CertificatePair;
  /** The CA bundle (the signing CA first, then older CAs still valid): the caBundle to inject. */
  caBundlePem: string;
  action: CertificateAction;
}

/** The result of {@link ensureCertificates}. */
export interface EnsuredCertificates extends SecretCertificates {
  /** The webhook configurations patched, e.g. `mutatingwebhookconfigurations/phi-guard`. */
  patched: string[];
}

/** A JSON Patch operation (RFC 6902) as sent to the API server. */
export interface JsonPatchOperation {
  op: 'test' | 'add';
  path: string;
  value: string;
}

const DAY_MS = 86_400_000;
const DEFAULT_RENEW_BEFORE_DAYS = 30;
// Each round is one read and one write; more rounds than replicas means something else is
// rewriting the object in a loop, which retrying will not fix.
const MAX_ATTEMPTS = 5;
const SECRET_KEYS = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;
const JSON_PATCH = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/**
 * Makes the Secret hold a CA and a serving certificate that names the Service and is valid
 * beyond the renewal window: creates the Secret when missing, renews the serving certificate
 * (keeping the CA) or rotates the CA when needed, and takes another replica's certificates when
 * it wins a race. Throws when the API server refuses, naming the Secret and the status.
 */
export async function ensureSecret(options: SelfManagedCertsOptions): Promise<SecretCertificates> {
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const needs = requirements(options);

  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const secret = await readSecret(core, options);
    if (!secret) {
      const fresh = issue(undefined, 'rotate-ca', needs);
      if (await createSecret(core, options, fresh)) return outcome(fresh, 'created');
      continue;
    }
    const stored = storedCertificates(secret);
    const verdict = judge(stored, needs);
    if (verdict === 'keep') return outcome(stored as Stored<string>, 'unchanged');

    const next = issue(stored, verdict, needs);
    if (await replaceSecret(core, secret, next)) {
      return outcome(next, verdict === 'rotate-ca' ? 'rotated' : 'renewed');
    }
  }
  throw new Error(
    `Secret ${options.namespace}/${options.secretName} changed under every one of ` +
      `${MAX_ATTEMPTS} attempts to update it`,
  );
}

/**
 * Patches `caBundlePem` into every webhook of the named configurations, skipping those already
 * equal. Returns the configurations patched; throws naming a configuration that is missing or
 * that the API server refuses to patch.
 *
 * The patch is a JSON Patch (RFC 6902) with, per webhook index, a `test` of the webhook's name
 * before the `add` of its caBundle: if the list is reordered between our read and our write, the
 * test fails, the API server answers 422 and we re-read, instead of writing one webhook's bundle
 * under another's index. (`add` replaces an existing member, RFC 6902 §4.1, so it serves whether
 * or not caBundle is set.) A strategic merge patch keyed by webhook name would survive a reorder
 * too, but for a webhook renamed or removed meanwhile it would add a new entry holding only a
 * caBundle, which validation rejects with a less clear error than the failed test.
 */
export async function injectCaBundle(
  options: SelfManagedCertsOptions,
  caBundlePem: string,
): Promise<string[]> {
  const api = options.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const caBundle = Buffer.from(caBundlePem).toString('base64');
  const targets = [
    ...(options.mutatingWebhookConfigurations ?? []).map((name) => ({ kind: MUTATING, name })),
    ...(options.validatingWebhookConfigurations ?? []).map((name) => ({ kind: VALIDATING, name })),
  ];
  const patched: string[] = [];
  for (const { kind, name } of targets) {
    if (await patchConfiguration(api, kind, name, caBundle))
      patched.push(`${kind.resource}/${name}`);
  }
  return patched;
}

/** Ensures the Secret ({@link ensureSecret}) and then the caBundles ({@link injectCaBundle}). */
export async function ensureCertificates(
  options: SelfManagedCertsOptions,
): Promise<EnsuredCertificates> {
  const certs = await ensureSecret(options);
  const patched = await injectCaBundle(options, certs.caBundlePem);
  return { ...certs, patched };
}

/** The JSON Patch that sets `caBundle` (base64) on every webhook that does not hold it yet. */
export function caBundlePatch(
  webhooks: ReadonlyArray<{ name: string; clientConfig?: { caBundle?: string } }>,
  caBundle: string,
): JsonPatchOperation[] {
  return webhooks.flatMap((webhook, i): JsonPatchOperation[] =>
    webhook.clientConfig?.caBundle === caBundle
      ? []
      : [
          { op: 'test', path: `/webhooks/${i}/name`, value: webhook.name },
          { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle },
        ],
  );
}

/** Options of {@link startRenewal}. */
export interface RenewalOptions extends SelfManagedCertsOptions {
  /** The store serving the certificate; gets the new pair through `update()`. */
  store: CertStore;
  /** Time between runs; default one day (the renewal window is a month). */
  intervalMs?: number;
  /** First retry after a failed run, doubling up to `intervalMs`; default one minute. */
  retryMs?: number;
  /** Called after every successful run. */
  onResult?: (result: EnsuredCertificates) => void;
  /** Called after every failed run, before the retry is scheduled. */
  onError?: (err: Error) => void;
}

/** A running renewal loop. */
export interface Renewal {
  /** Runs once now (runs never overlap); resolves undefined when the run failed. */
  runNow(): Promise<EnsuredCertificates | undefined>;
  /** Stops the loop; a run in flight finishes but schedules nothing. */
  stop(): void;
}

/**
 * Re-runs {@link ensureCertificates} every `intervalMs` (first run after one interval: the caller
 * has just run it) and hands the serving pair to the store. The store is only updated after the
 * caBundle is confirmed, so a rotated CA is trusted by the API server before it is served.
 * Timers are unref'd: the loop never keeps the process alive.
 */
export function startRenewal(options: RenewalOptions): Renewal {
  const interval = options.intervalMs ?? DAY_MS;
  const firstRetry = options.retryMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let retry = firstRetry;
  let running: Promise<EnsuredCertificates | undefined> = Promise.resolve(undefined);

  const schedule = (delay: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void runNow(), delay);
    timer.unref();
  };
  const runOnce = async () => {
    try {
      const result = await ensureCertificates(options);
      if (result.serving.certPem !== options.store.certPem) options.store.update(result.serving);
      options.onResult?.(result);
      retry = firstRetry;
      schedule(interval);
      return result;
    } catch (err) {
      options.onError?.(new Error('self-managed certificate renewal failed', { cause: err }));
      schedule(retry);
      retry = Math.min(retry * 2, interval);
      return undefined;
    }
  };
  const runNow = () => (running = running.then(runOnce));

  schedule(interval);
  return {
    runNow,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The whole self-managed mode for the server: ensures the certificates now (throwing when that
 * fails, so the pod does not serve a certificate the API server does not trust), builds a
 * CertStore serving them, and keeps them renewed.
 */
export async function startSelfManagedCertificates(
  options: Omit<RenewalOptions, 'store'> & { storeOptions?: CertStoreOptions },
): Promise<{ store: CertStore; renewal: Renewal; result: EnsuredCertificates }> {
  const result = await ensureCertificates(options);
  const store = CertStore.fromPair(result.serving, options.storeOptions);
  const renewal = startRenewal({ ...options, store });
  return { store, renewal, result };
}

type Verdict = 'keep' | 'renew-serving' | 'rotate-ca';

interface Requirements {
  dnsNames: string[];
  renewBeforeMs: number;
  servingValidityDays: number;
  caValidityDays: number;
  now: Date;
}

/** What the Secret holds, each field absent when its key is. */
type Stored<T = string | undefined> = { caBundlePem: T; ca: Pair<T>; serving: Pair<T> };
type Pair<T> = { certPem: T; keyPem: T };

function requirements(options: SelfManagedCertsOptions): Requirements {
  const renewBeforeDays = options.renewBeforeDays ?? DEFAULT_RENEW_BEFORE_DAYS;
  const servingValidityDays = options.servingValidityDays ?? DEFAULT_SERVING_VALIDITY_DAYS;
  const caValidityDays = options.caValidityDays ?? DEFAULT_CA_VALIDITY_DAYS;
  for (const [name, days] of [
    ['servingValidityDays', servingValidityDays],
    ['caValidityDays', caValidityDays],
  ] as const) {
    if (!(days > renewBeforeDays)) {
      throw new Error(
        `${name} (${days}) must be more than renewBeforeDays (${renewBeforeDays}), ` +
          'or every run would renew',
      );
    }
  }
  return {
    dnsNames: serviceDnsNames(options.serviceName, options.namespace, options.clusterDomain),
    renewBeforeMs: renewBeforeDays * DAY_MS,
    servingValidityDays,
    caValidityDays,
    now: options.now?.() ?? new Date(),
  };
}

function storedCertificates(secret: V1Secret): Stored {
  const text = (key: string) => {
    const value = secret.data?.[key];
    return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
  };
  const caBundlePem = text(SECRET_KEYS.caCert);
  return {
    caBundlePem,
    ca: { certPem: splitPemBundle(caBundlePem ?? '')[0], keyPem: text(SECRET_KEYS.caKey) },
    serving: { certPem: text(SECRET_KEYS.cert), keyPem: text(SECRET_KEYS.key) },
  };
}

function judge(stored: Stored, needs: Requirements): Verdict {
  const { ca, serving } = stored;
  if (!isPair(ca) || !validFor(ca, needs.renewBeforeMs, needs.now)) return 'rotate-ca';
  if (!isPair(serving) || !validFor(serving, needs.renewBeforeMs, needs.now))
    return 'renew-serving';
  if (!coversNames(serving.certPem, needs.dnsNames)) return 'renew-serving';
  return isIssuedBy(serving.certPem, ca.certPem) ? 'keep' : 'renew-serving';
}

// Never hands the CA key beyond this module.
function outcome(certs: Stored<string>, action: CertificateAction): SecretCertificates {
  return { serving: certs.serving, caBundlePem: certs.caBundlePem, action };
}

function isPair(pair: Pair<string | undefined>): pair is Pair<string> {
  return pair.certPem !== undefined && pair.keyPem !== undefined;
}

function issue(stored: Stored | undefined, verdict: Verdict, needs: Requirements): Stored<string> {
  const { now } = needs;
  const servingOptions = { dnsNames: needs.dnsNames, validityDays: needs.servingValidityDays, now };
  if (verdict === 'renew-serving' && stored && isPair(stored.ca)) {
    try {
      const serving = generateServingCert(stored.ca, servingOptions);
      return {
        caBundlePem: caBundle(stored.ca.certPem, stored.caBundlePem, now),
        ca: stored.ca,
        serving,
      };
    } catch {
      // A CA we cannot sign with (a non-RSA key put there by hand): rotate it instead.
    }
  }
  const ca = generateCa({ validityDays: needs.caValidityDays, now });
  const serving = generateServingCert(ca, servingOptions);
  return { caBundlePem: caBundle(ca.certPem, stored?.caBundlePem, now), ca, serving };
}

/**
 * The signing CA first, then the previous bundle's CAs that are still valid: after a rotation,
 * replicas still serving a certificate from the old CA stay trusted until they pick up the new
 * one (each does at its next run, within a day).
 */
function caBundle(caPem: string, previous: string | undefined, now: Date): string {
  const older = splitPemBundle(previous ?? '').filter((pem) => {
    if (pem.trim() === caPem.trim()) return false;
    try {
      return new Date(new X509Certificate(pem).validTo) > now;
    } catch {
      return false;
    }
  });
  return `${[caPem.trim(), ...older].join('\n')}\n`;
}

async function readSecret(
  core: CoreV1Api,
  options: SelfManagedCertsOptions,
): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({
      name: options.secretName,
      namespace: options.namespace,
    });
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw apiError(err, `reading Secret ${options.namespace}/${options.secretName}`);
  }
}

async function createSecret(
  core: CoreV1Api,
  options: SelfManagedCertsOptions,
  certs: Stored<string>,
): Promise<boolean> {
  const body: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: options.secretName,
      namespace: options.namespace,
      labels: {
        'app.kubernetes.io/name': 'phi-guard',
        'app.kubernetes.io/managed-by': 'phi-guard',
      },
    },
    type: 'kubernetes.io/tls',
    data: secretData(certs),
  };
  try {
    await core.createNamespacedSecret({ namespace: options.namespace, body });
    return true;
  } catch (err) {
    if (statusOf(err) === 409) return false;
    throw apiError(err, `creating Secret ${options.namespace}/${options.secretName}`);
  }
}

// PUT with the resourceVersion we read: the API server refuses it with 409 if anyone wrote since.
async function replaceSecret(
  core: CoreV1Api,
  secret: V1Secret,
  certs: Stored<string>,
): Promise<boolean> {
  const name = secret.metadata?.name ?? '';
  const namespace = secret.metadata?.namespace ?? '';
  const body: V1Secret = { ...secret, data: { ...secret.data, ...secretData(certs) } };
  try {
    await core.replaceNamespacedSecret({ name, namespace, body });
    return true;
  } catch (err) {
    if (statusOf(err) === 409 || statusOf(err) === 404) return false;
    throw apiError(err, `replacing Secret ${namespace}/${name}`);
  }
}

function secretData(certs: Stored<string>): Record<string, string> {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return {
    [SECRET_KEYS.caCert]: b64(certs.caBundlePem),
    [SECRET_KEYS.caKey]: b64(certs.ca.keyPem),
    [SECRET_KEYS.cert]: b64(certs.serving.certPem),
    [SECRET_KEYS.key]: b64(certs.serving.keyPem),
  };
}

interface WebhookKind {
  resource: string;
  read(api: AdmissionregistrationV1Api, name: string): Promise<{ webhooks?: WebhookEntry[] }>;
  patch(
    api: AdmissionregistrationV1Api,
    name: string,
    body: JsonPatchOperation[],
  ): Promise<unknown>;
}
type WebhookEntry = { name: string; clientConfig?: { caBundle?: string } };

const MUTATING: WebhookKind = {
  resource: 'mutatingwebhookconfigurations',
  read: (api, name) => api.readMutatingWebhookConfiguration({ name }),
  patch: (api, name, body) => api.patchMutatingWebhookConfiguration({ name, body }, JSON_PATCH),
};
const VALIDATING: WebhookKind = {
  resource: 'validatingwebhookconfigurations',
  read: (api, name) => api.readValidatingWebhookConfiguration({ name }),
  patch: (api, name, body) => api.patchValidatingWebhookConfiguration({ name, body }, JSON_PATCH),
};

async function patchConfiguration(
  api: AdmissionregistrationV1Api,
  kind: WebhookKind,
  name: string,
  caBundle: string,
): Promise<boolean> {
  const what = `${kind.resource}/${name}`;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    let config;
    try {
      config = await kind.read(api, name);
    } catch (err) {
      throw apiError(err, `reading ${what}`);
    }
    const patch = caBundlePatch(config.webhooks ?? [], caBundle);
    if (patch.length === 0) return false;
    try {
      await kind.patch(api, name, patch);
      return true;
    } catch (err) {
      // 422: a `test` failed because the webhooks changed since our read; 409: a write raced.
      if (statusOf(err) !== 422 && statusOf(err) !== 409) throw apiError(err, `patching ${what}`);
    }
  }
  throw new Error(`${what} changed under every one of ${MAX_ATTEMPTS} attempts to patch it`);
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? (err.code as number) : undefined;
}

// The API server's Status message says why (forbidden, not found); ApiException's own message
// also dumps the response headers, so only the status and that message are kept up front.
function apiError(err: unknown, doing: string): Error {
  const code = statusOf(err);
  if (code === undefined) return new Error(`${doing} failed`, { cause: err });
  const body = (err as ApiException<unknown>).body;
  const reason = parseStatusMessage(body);
  return new Error(`${doing} failed: HTTP ${code}${reason ? ` (${reason})` : ''}`, { cause: err });
}

function parseStatusMessage(body: unknown): string | undefined {
  const parsed: unknown = typeof body === 'string' ? safeJson(body) : body;
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const message = (parsed as { message?: unknown }).message;
  return typeof message === 'string' ? message : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
