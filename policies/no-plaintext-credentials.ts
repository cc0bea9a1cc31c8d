/**
 * no-plaintext-credentials: no credentials written as literal values where Secrets belong.
 *
 * - Reads, on every kind:
 *   - containers, init and ephemeral containers of Pods and pod templates: `env[].value` (not
 *     `valueFrom`, which is the fix), `command` and `args`;
 *   - ConfigMap `data` and `binaryData` (decoded when it is UTF-8 text; other bytes are skipped);
 *   - `metadata.annotations` of the object and of its pod template, including
 *     `kubectl.kubernetes.io/last-applied-configuration`: `kubectl apply` copies the whole applied
 *     manifest there, so a Secret applied that way has its data, and `stringData` in clear text,
 *     in an annotation that `kubectl describe` and metadata-only clients show; for other kinds a
 *     credential that was since removed from the object can linger there.
 * - Flags a value when:
 *   - secretlint's recommended rule set recognises a credential in it (AWS, GCP, private keys,
 *     GitHub, Slack, npm, basic-auth URLs...; src/engine/secret-scan.ts);
 *   - it holds a URL with a password (`postgres://app:pw@db`, RFC 3986 section 3.2.1);
 *   - its name reads as a credential's (`DB_PASSWORD`, `apiKey`, `client-secret`) and it holds a
 *     literal: an env var, a ConfigMap key, a `key: value` line in a ConfigMap file, or a
 *     command-line flag (`--db-password=...`, `--token ...`). Names of references are not
 *     credentials (`*_NAME`, `*_REF`, `*_FILE`, `*_PATH`, `*_KEY_ID`, `*_URL`...), nor are
 *     names matching `allowedNames` (globs; the value-based checks still apply to them).
 *   Placeholders are not literals: empty values, booleans, `$(VAR)`, `${VAR}`, `{{ template }}`.
 * - Annotation keys are not judged by name: controllers name Secrets in annotations by
 *   convention (ingress-nginx `auth-secret`, Vault's `agent-inject-secret-*`). Known limitation:
 *   a credential in an annotation is found only by its format (secretlint, URL password) or by a
 *   `key: value` line inside the annotation.
 * - A finding names the container and env var, the argument index, the ConfigMap key and line,
 *   or the annotation, and the rule that matched; never the value.
 * - Secrets' own `data` is where credentials belong and is not read.
 *
 * HIPAA Security Rule: 164.312(a)(1) access control, 164.312(d) person or entity authentication.
 */
import { Buffer } from 'node:buffer';
import { z } from 'zod';
import { definePolicy } from '../src/engine/policy.js';
import type { Finding } from '../src/engine/policy.js';
import { matchesAny } from '../src/engine/glob.js';
import { getIn, isRecord, toFieldPath, type Segment } from '../src/engine/paths.js';
import { containersOf, podSpecOf } from '../src/engine/pod-spec.js';
import type { ContainerView } from '../src/engine/pod-spec.js';
import {
  credentialAssignments,
  credentialFlags,
  describeHit,
  hasUrlPassword,
  isCredentialName,
  isPlaceholder,
  scanEachForSecrets,
  scanForSecrets,
} from '../src/engine/secret-scan.js';
import type { SecretHit } from '../src/engine/secret-scan.js';

const params = z
  .object({
    /**
     * Globs of names known not to hold credentials (env vars, ConfigMap keys, keys inside
     * ConfigMap files, flags without their dashes); they skip the name check only.
     */
    allowedNames: z.array(z.string().min(1)).default([]),
  })
  .strict();

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const MAX_LISTED = 3;

const FIX = {
  env:
    'store the value in a Secret and use env[].valueFrom.secretKeyRef, or mount the Secret ' +
    'as a file',
  args:
    'pass it from a Secret instead: an env var with valueFrom.secretKeyRef referred to as ' +
    '$(VAR), or a mounted Secret file',
  configMap:
    'move the credential to a Secret (created from a SealedSecret or an ExternalSecret) and ' +
    'reference it from there',
  annotation: 'remove the credential from the annotation; keep credentials in Secrets',
} as const;

/** Why a value is a literal credential: the finding's reason and the words after its subject. */
interface Detection {
  reason: 'detected-secret' | 'url-password' | 'credential-name';
  what: string;
}

type Allowed = (name: string) => boolean;

/**
 * What the walkers below need: the name allow-list, secretlint's verdict on a text, and whether
 * a value is the same as in the live object (when walking the last-applied copy of it).
 *
 * Walkers run twice: the collecting pass only notes the texts without a file name (its verdict
 * COLLECTED cuts every other check short), which are then scanned together
 * (scanEachForSecrets: one pass per rule instead of one per value); the judging pass reads those
 * verdicts and scans ConfigMap files, whose names matter, one by one. Verdicts live as long as
 * the request does.
 */
interface Scan {
  allowed: Allowed;
  secretlint(text: string, fileName?: string): Detection | undefined;
  /** True when `value` at `path` equals the live object's: its findings are reported already. */
  same(path: Segment[], value: unknown): boolean;
}

const COLLECTED: Detection = { reason: 'detected-secret', what: '(collecting)' };

function scanners(allowedNames: readonly string[]): {
  collect: Scan;
  judge: Scan;
  flush(): void;
} {
  const allowed: Allowed = (name) => matchesAny(allowedNames, name);
  const pending = new Set<string>();
  const verdicts = new Map<string, Detection | undefined>();
  const key = (text: string, fileName = ''): string => `${fileName}\u0000${text}`;
  return {
    collect: {
      allowed,
      secretlint(text, fileName) {
        if (fileName === undefined) pending.add(text);
        return COLLECTED;
      },
      same: () => false,
    },
    judge: {
      allowed,
      same: () => false,
      secretlint(text, fileName) {
        const k = key(text, fileName);
        if (!verdicts.has(k)) verdicts.set(k, detectionOf(scanForSecrets(text, { fileName })));
        return verdicts.get(k);
      },
    },
    flush() {
      const texts = [...pending];
      scanEachForSecrets(texts).forEach((hits, i) =>
        verdicts.set(key(texts[i]!), detectionOf(hits)),
      );
    },
  };
}

/** `scan` for the last-applied copy of `live`: values equal to the live ones are skipped. */
function against(scan: Scan, live: unknown): Scan {
  return { ...scan, same: (path, value) => sameValue(getIn(live, path), value) };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  if (!isRecord(a) || !isRecord(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => sameValue(a[k], b[k]));
}

function detectionOf(hits: SecretHit[]): Detection | undefined {
  if (hits.length === 0) return undefined;
  const rules = hits.map(describeHit).join(', ');
  return { reason: 'detected-secret', what: `holds a credential recognised by ${rules}` };
}

function byUrl(text: string): Detection | undefined {
  return hasUrlPassword(text)
    ? { reason: 'url-password', what: 'holds a URL with a password in it' }
    : undefined;
}

function byName(name: string, allowed: Allowed): Detection | undefined {
  if (allowed(name) || !isCredentialName(name)) return undefined;
  return {
    reason: 'credential-name',
    what: 'has a credential-like name and holds a literal value',
  };
}

function listed(items: string[]): string {
  const shown = items.slice(0, MAX_LISTED).join(', ');
  return items.length > MAX_LISTED ? `${shown} and ${items.length - MAX_LISTED} more` : shown;
}

function byAssignments(text: string, allowed: Allowed): Detection | undefined {
  const found = credentialAssignments(text, allowed);
  if (found.length === 0) return undefined;
  const keys = listed(found.map((f) => `"${f.key}" (line ${f.line})`));
  return { reason: 'credential-name', what: `sets credential-like key ${keys} to a literal value` };
}

function byFlags(text: string, allowed: Allowed): Detection | undefined {
  const found = credentialFlags(wordsOfText(text), allowed);
  if (found.length === 0) return undefined;
  const flags = listed(found.map((f) => `"${f.flag}"`));
  return { reason: 'credential-name', what: `passes a literal value to credential-like ${flags}` };
}

function wordsOfText(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}

function finding(path: Segment[], subject: string, d: Detection, fix: string): Finding {
  return { reason: d.reason, path: toFieldPath(path), message: `${subject} ${d.what}`, fix };
}

// ---- containers ------------------------------------------------------------------------------

function scanEnv(c: ContainerView, scan: Scan): Finding[] {
  const env = c.container.env;
  if (!Array.isArray(env)) return [];
  const out: Finding[] = [];
  env.forEach((entry: unknown, i) => {
    if (!isRecord(entry) || scan.same([...c.path, 'env', i], entry)) return;
    const { name, value } = entry;
    if (typeof name !== 'string' || typeof value !== 'string') return;
    if (isPlaceholder(value)) return;
    // Written as in a .env file: secretlint's AWS rule needs the key name beside the value.
    const d =
      scan.secretlint(`${name}=${value}`) ??
      byUrl(value) ??
      byName(name, scan.allowed) ??
      byFlags(value, scan.allowed);
    if (d) {
      const subject = `container "${c.name}" env ${name}`;
      out.push(finding([...c.path, 'env', i, 'value'], subject, d, FIX.env));
    }
  });
  return out;
}

function byFlagAt(flag: string | undefined): Detection | undefined {
  if (flag === undefined) return undefined;
  return { reason: 'credential-name', what: `passes a literal value to credential-like "${flag}"` };
}

/** A script in one argument (`sh -c "..."`): its flags and `KEY=value` assignments. */
function byScript(script: string, allowed: Allowed): Detection | undefined {
  return byFlags(script, allowed) ?? byAssignments(script, allowed);
}

function scanCommandLine(c: ContainerView, field: 'command' | 'args', scan: Scan): Finding[] {
  const list = c.container[field];
  if (!Array.isArray(list) || scan.same([...c.path, field], list)) return [];
  const words = list.map((w: unknown) => (typeof w === 'string' ? w : ''));
  const flagged = new Map<number, string>();
  for (const f of credentialFlags(words, scan.allowed)) flagged.set(f.index, f.flag);

  const out: Finding[] = [];
  words.forEach((word, i) => {
    if (isPlaceholder(word)) return;
    const d =
      scan.secretlint(word) ??
      byUrl(word) ??
      byFlagAt(flagged.get(i)) ??
      (/\s/.test(word) ? byScript(word, scan.allowed) : undefined);
    if (d) {
      out.push(finding([...c.path, field, i], `container "${c.name}" ${field}[${i}]`, d, FIX.args));
    }
  });
  return out;
}

function scanPodSpec(kind: string, object: unknown, scan: Scan): Finding[] {
  const view = podSpecOf(kind, object);
  if (!view) return [];
  return containersOf(view).flatMap((c) => [
    ...scanEnv(c, scan),
    ...scanCommandLine(c, 'command', scan),
    ...scanCommandLine(c, 'args', scan),
  ]);
}

// ---- ConfigMaps ------------------------------------------------------------------------------

/** The text inside base64 `binaryData`, or undefined when it is not UTF-8 text. */
function decodedText(base64: string): string | undefined {
  const compact = base64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
  const bytes = Buffer.from(compact, 'base64');
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function scanText(key: string, text: string, scan: Scan): Detection | undefined {
  if (isPlaceholder(text)) return undefined;
  return (
    scan.secretlint(text, key) ??
    byUrl(text) ??
    byName(key, scan.allowed) ??
    byAssignments(text, scan.allowed) ??
    byFlags(text, scan.allowed)
  );
}

function scanConfigMap(object: unknown, scan: Scan): Finding[] {
  const out: Finding[] = [];
  for (const field of ['data', 'binaryData'] as const) {
    const entries = getIn(object, [field]);
    if (!isRecord(entries)) continue;
    for (const [key, raw] of Object.entries(entries)) {
      if (typeof raw !== 'string' || scan.same([field, key], raw)) continue;
      const text = field === 'data' ? raw : decodedText(raw);
      const d = text === undefined ? undefined : scanText(key, text, scan);
      if (d) out.push(finding([field, key], `key "${key}"`, d, FIX.configMap));
    }
  }
  return out;
}

// ---- annotations -----------------------------------------------------------------------------

function scanAnnotation(value: string, scan: Scan): Detection | undefined {
  if (isPlaceholder(value)) return undefined;
  return (
    scan.secretlint(value) ??
    byUrl(value) ??
    byAssignments(value, scan.allowed) ??
    byFlags(value, scan.allowed)
  );
}

function secretKeys(manifest: Record<string, unknown>): string[] {
  const keys = [manifest.data, manifest.stringData].flatMap((v) =>
    isRecord(v) ? Object.keys(v) : [],
  );
  return [...new Set(keys)].sort();
}

/**
 * Findings of the manifest kept in `last-applied-configuration` of `live`. For a Secret, any
 * data is a finding; for other kinds, only what the live object no longer has: values equal to
 * the live ones are skipped, and findings already `reported` at the same path are dropped.
 */
function scanLastApplied(
  kind: string,
  live: unknown,
  manifest: Record<string, unknown>,
  reported: Set<string>,
  scan: Scan,
): Finding[] {
  const path = toFieldPath(['metadata', 'annotations', LAST_APPLIED]);
  const manifestKind = typeof manifest.kind === 'string' ? manifest.kind : kind;
  if (manifestKind === 'Secret') {
    const keys = secretKeys(manifest);
    if (keys.length === 0) return [];
    return [
      {
        reason: 'secret-in-last-applied',
        path,
        message:
          `kubectl apply copied this Secret's data (keys ${listed(keys)}) into the annotation, ` +
          'where kubectl describe and metadata-only clients show it',
        fix:
          'apply Secrets with kubectl apply --server-side or create them from a SealedSecret ' +
          'or an ExternalSecret, and remove the annotation',
      },
    ];
  }
  return scanObject(manifestKind, manifest, against(scan, live), false)
    .filter((f) => !reported.has(keyOf(f)))
    .map((f) => ({
      reason: f.reason,
      path,
      message: `the manifest kept in this annotation still has ${f.path}: ${f.message}`,
      fix: `${f.fix}; then re-apply with kubectl apply, which rewrites the annotation`,
    }));
}

function parseManifest(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function annotationFinding(
  path: Segment[],
  key: string,
  value: string,
  scan: Scan,
): Finding | undefined {
  const d = scanAnnotation(value, scan);
  return d ? finding(path, `annotation "${key}"`, d, FIX.annotation) : undefined;
}

function scanAnnotations(metaPath: Segment[], object: unknown, scan: Scan): Finding[] {
  const annotations = getIn(object, [...metaPath, 'annotations']);
  if (!isRecord(annotations)) return [];
  const out: Finding[] = [];
  for (const [key, value] of Object.entries(annotations)) {
    // last-applied-configuration is read as the manifest it is, in scanObject.
    const path = [...metaPath, 'annotations', key];
    if (typeof value !== 'string' || key === LAST_APPLIED || scan.same(path, value)) continue;
    const found = annotationFinding(path, key, value, scan);
    if (found) out.push(found);
  }
  return out;
}

// ---- the object ------------------------------------------------------------------------------

function keyOf(f: Finding): string {
  return `${f.reason}\u0000${f.path}`;
}

function scanObject(
  kind: string,
  object: unknown,
  scan: Scan,
  withLastApplied: boolean,
): Finding[] {
  const findings = [...scanPodSpec(kind, object, scan)];
  if (kind === 'ConfigMap') findings.push(...scanConfigMap(object, scan));
  findings.push(...scanAnnotations(['metadata'], object, scan));
  const view = podSpecOf(kind, object);
  if (view && view.metaPath.length > 1) {
    findings.push(...scanAnnotations(view.metaPath, object, scan));
  }
  if (!withLastApplied) return findings;

  const path = ['metadata', 'annotations', LAST_APPLIED];
  const text = getIn(object, path);
  if (typeof text !== 'string') return findings;
  const manifest = parseManifest(text);
  if (manifest) {
    findings.push(...scanLastApplied(kind, object, manifest, new Set(findings.map(keyOf)), scan));
  } else {
    const plain = annotationFinding(path, LAST_APPLIED, text, scan);
    if (plain) findings.push(plain);
  }
  return findings;
}

export default definePolicy({
  id: 'no-plaintext-credentials',
  title: 'No credentials as literal values in env, args, ConfigMaps or annotations',
  hipaa: ['164.312(a)(1)', '164.312(d)'],
  match: { kinds: ['*'], subResources: ['ephemeralcontainers'] },
  params,
  defaultMode: 'enforce',

  validate(ctx) {
    if (!ctx.object) return [];
    const scan = scanners(ctx.params.allowedNames);
    scanObject(ctx.kind, ctx.object, scan.collect, true);
    scan.flush();
    return scanObject(ctx.kind, ctx.object, scan.judge, true);
  },
});
