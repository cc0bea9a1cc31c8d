/**
 * Every structured log field and message phi-guard writes, in one module: a SIEM mapping or an
 * auditor's query has one place to look, and a renamed field cannot drift between log lines.
 */

/** Top-level fields of log lines. `time`, `level` and `msg` are pino's own keys. */
export const LOG_FIELD = {
  time: 'time',
  level: 'level',
  msg: 'msg',
  err: 'err',
  uid: 'uid',
  webhook: 'webhook',
  operation: 'operation',
  kind: 'kind',
  group: 'group',
  resource: 'resource',
  subResource: 'subResource',
  namespace: 'namespace',
  name: 'name',
  user: 'user',
  groups: 'groups',
  dryRun: 'dryRun',
  decision: 'decision',
  skipped: 'skipped',
  violations: 'violations',
  patched: 'patched',
  exceptions: 'exceptions',
  expiredExceptions: 'expiredExceptions',
  notices: 'notices',
  notice: 'notice',
  durationMs: 'durationMs',
  policy: 'policy',
  reason: 'reason',
  status: 'status',
  configPath: 'configPath',
  issues: 'issues',
  port: 'port',
  metricsPort: 'metricsPort',
  caFile: 'caFile',
  certFile: 'certFile',
  keyFile: 'keyFile',
  expires: 'expires',
  delayMs: 'delayMs',
  action: 'action',
  secret: 'secret',
} as const;

/** Fields of one entry of `violations` (one per finding, as Gatekeeper logs them). */
export const VIOLATION_FIELD = {
  policy: 'policy',
  mode: 'mode',
  outcome: 'outcome',
  reason: 'reason',
  path: 'path',
  message: 'message',
  exception: 'exception',
} as const;

/** The `msg` of each kind of log line, so that a query can select one kind by its text. */
export const LOG_MESSAGE = {
  decision: 'admission decision',
  notice: 'admission notice',
  badRequest: 'bad admission request',
  unexpected: 'unexpected error while answering a request',
  policyError: 'a policy failed on this object; it was treated as a finding',
  listening: 'phi-guard serving admission webhooks',
  devCertificates: 'using development certificates: trust the CA file, e.g. curl --cacert <caFile>',
  certificatesLoaded: 'TLS certificate loaded',
  certificateReloadFailed: 'TLS certificate reload failed; keeping the previous one',
  configLoaded: 'config loaded',
  configReloaded: 'config reloaded',
  configRejected: 'config reload rejected; keeping the last good config',
  notReady: 'a readiness condition failed; staying not ready',
  noCluster:
    'no cluster found (no in-cluster config, no kubeconfig): policies see no namespace labels',
  namespaceCacheError: 'namespace cache list or watch failed; retrying',
  selfManagedCertificates: 'self-managed certificates in place',
  shutdownStarted: 'termination signal: readiness off, draining',
  shutdownDone: 'drained; exiting',
  startFailed: 'phi-guard could not start',
} as const;
