import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import fastJsonPatch from 'fast-json-patch';
import {
  CLI,
  HttpsClient,
  REPO_ROOT,
  startChildServer,
  tempDir,
  type ChildServer,
  type LogLine,
} from './fixtures/server.js';
import { admissionReview, newUid, patchOf } from './fixtures/reviews.js';
import { getIn, isRecord } from '../src/engine/paths.js';
import { POD_TEMPLATE_ROOTS } from '../src/engine/pod-spec.js';

// Every object of the real-world corpus, through the BUILT server over HTTPS: mutate, apply the
// patch, validate the mutated object, as the API server chains the two webhooks.
const CORPUS = resolve(REPO_ROOT, '../shared/corpus');
const missing = !existsSync(CORPUS);
if (missing) console.warn(`e2e-corpus skipped: ${CORPUS} is missing`);

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'CSIDriver',
  'APIService',
  'ClusterIssuer',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'PodSecurityPolicy',
  'ClusterSecretStore',
  'ClusterExternalSecret',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);

// Pod-security findings that the mutating webhook exists to prevent, when the field is unset.
const MUTATION_FIXES = new Set([
  'runAsNonRoot',
  'allowPrivilegeEscalation',
  'capabilities_restricted',
  'seccompProfile_restricted',
]);

interface CorpusObject {
  where: string;
  object: Record<string, unknown>;
}

function manifestFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ya?ml|json)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function corpusObjects(counts: Record<string, number>): CorpusObject[] {
  const out: CorpusObject[] = [];
  for (const file of manifestFiles(CORPUS)) {
    counts.files! += 1;
    parseAllDocuments(readFileSync(file, 'utf8'), { logLevel: 'error' }).forEach((doc, i) => {
      const where = `${relative(CORPUS, file)}#${i + 1}`;
      const value = doc.errors.length > 0 ? undefined : (doc.toJS() as unknown);
      const items =
        isRecord(value) && Array.isArray(value.items) && String(value.kind).endsWith('List')
          ? value.items
          : [value];
      for (const item of items) {
        if (isRecord(item) && typeof item.kind === 'string' && typeof item.apiVersion === 'string')
          out.push({ where, object: item });
        else counts.skippedDocuments! += 1;
      }
    });
  }
  return out;
}

function reviewFor(object: Record<string, unknown>, uid: string) {
  const kind = object.kind as string;
  const [group, version] = (object.apiVersion as string).includes('/')
    ? (object.apiVersion as string).split('/')
    : ['', object.apiVersion as string];
  const meta = isRecord(object.metadata) ? object.metadata : {};
  const namespace = CLUSTER_SCOPED.has(kind)
    ? ''
    : typeof meta.namespace === 'string'
      ? meta.namespace
      : 'default';
  // The API server sets metadata.namespace from the request before admission.
  const sent = namespace ? { ...object, metadata: { ...meta, namespace } } : object;
  return {
    sent,
    body: admissionReview(sent, {
      uid,
      namespace,
      kind: { group: group!, version: version!, kind },
      resource: `${kind.toLowerCase()}s`,
    }),
  };
}

/** Field path (`spec.containers[0].securityContext`) → segments. */
function segmentsOf(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g)) {
    out.push(
      m[2] !== undefined ? Number(m[2]) : m[3] !== undefined ? JSON.parse(`"${m[3]}"`) : m[1]!,
    );
  }
  return out;
}

// The API server refuses `allowPrivilegeEscalation: false` beside `privileged: true` or an added
// CAP_SYS_ADMIN (Kubernetes core validation of SecurityContext), so mutation must leave it unset.
function cannotDropEscalation(object: unknown, path: Array<string | number>): boolean {
  const sc = getIn(object, path.slice(0, -1));
  const add = getIn(sc, ['capabilities', 'add']);
  const sysAdmin =
    Array.isArray(add) && add.some((c) => c === 'SYS_ADMIN' || c === 'CAP_SYS_ADMIN');
  return getIn(sc, ['privileged']) === true || sysAdmin;
}

// Mutation leaves runAsNonRoot unset where the manifest runs a container as user 0: the kubelet
// would refuse to start it, so the root user is left for validation to deny.
function leftForRootUser(object: unknown, path: Array<string | number>): boolean {
  const at = path.slice(0, -2);
  const spec = at[at.length - 1] === 'spec' ? getIn(object, at) : undefined;
  if (spec === undefined) return getIn(object, [...path.slice(0, -1), 'runAsUser']) === 0;
  const podUser = getIn(spec, ['securityContext', 'runAsUser']);
  if (podUser === 0) return true;
  const lists = ['initContainers', 'containers', 'ephemeralContainers'];
  return lists.some((list) => {
    const containers = getIn(spec, [list]);
    return (
      Array.isArray(containers) &&
      containers.some((c) => {
        if (getIn(c, ['securityContext', 'runAsNonRoot']) !== undefined) return false;
        return (getIn(c, ['securityContext', 'runAsUser']) ?? podUser) === 0;
      })
    );
  });
}

function isWindows(kind: string, object: unknown): boolean {
  const root = POD_TEMPLATE_ROOTS[kind];
  return root !== undefined && getIn(object, [...root, 'spec', 'os', 'name']) === 'windows';
}

describe.skipIf(missing)('e2e: the corpus through the built server', () => {
  let child: ChildServer;
  let client: HttpsClient;
  beforeAll(async () => {
    if (!existsSync(CLI))
      throw new Error(`${CLI} is missing: build first with npx tsc -p tsconfig.json`);
    const cwd = tempDir();
    child = await startChildServer({ PHI_GUARD_SHUTDOWN_DELAY_MS: '0' }, cwd);
    client = new HttpsClient(child.port, readFileSync(child.caFile, 'utf8'), { maxSockets: 4 });
  });
  afterAll(async () => {
    client?.close();
    child?.proc.kill('SIGTERM');
    if (child) expect(await child.exited).toBe(0);
  });

  it('answers every object well-formed, patches apply, mutated pods pass what mutation fixes', async () => {
    const counts: Record<string, number> = {
      files: 0,
      skippedDocuments: 0,
      objects: 0,
      patched: 0,
    };
    const objects = corpusObjects(counts);
    const problems: string[] = [];
    const validateUids = new Map<string, { where: string; kind: string; mutated: unknown }>();

    async function one({ where, object }: CorpusObject): Promise<void> {
      const mutateUid = newUid();
      const { sent, body } = reviewFor(object, mutateUid);
      const mutate = await client.post('/mutate', body);
      const m = mutate.json?.response;
      if (mutate.status !== 200 || m?.uid !== mutateUid || typeof m.allowed !== 'boolean') {
        problems.push(`${where}: mutate answered ${mutate.status} ${mutate.text.slice(0, 200)}`);
        return;
      }
      let mutated: unknown = sent;
      if (m.patch !== undefined) {
        counts.patched! += 1;
        try {
          mutated = fastJsonPatch.applyPatch(
            structuredClone(sent),
            patchOf(m) as never,
            true,
          ).newDocument;
        } catch (err) {
          problems.push(`${where}: patch does not apply: ${(err as Error).message.split('\n')[0]}`);
          return;
        }
      }
      const validateUid = newUid();
      const validate = await client.post(
        '/validate',
        reviewFor(mutated as Record<string, unknown>, validateUid).body,
      );
      const v = validate.json?.response;
      if (validate.status !== 200 || v?.uid !== validateUid || typeof v.allowed !== 'boolean') {
        problems.push(
          `${where}: validate answered ${validate.status} ${validate.text.slice(0, 200)}`,
        );
        return;
      }
      const decision = String(v.auditAnnotations?.decision);
      counts[`validate ${decision}`] = (counts[`validate ${decision}`] ?? 0) + 1;
      validateUids.set(validateUid, { where, kind: object.kind as string, mutated });
    }

    const queue = [...objects];
    counts.objects = objects.length;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await one(next);
      }),
    );

    // Why each denial happened is in the decision log: a finding that mutation exists to fix, on
    // a field the mutated object leaves unset, means mutation failed to do its job.
    const decisions = await decisionLines(child, validateUids.size);
    let windows = 0;
    for (const line of decisions) {
      const request = validateUids.get(String(line.uid));
      if (!request) continue;
      if (isWindows(request.kind, request.mutated)) {
        windows += 1;
        continue;
      }
      for (const v of (line.violations as Array<Record<string, string>>) ?? []) {
        if (v.policy !== 'pod-security' || !MUTATION_FIXES.has(v.reason!)) continue;
        const path = segmentsOf(v.path!);
        if (v.reason === 'allowPrivilegeEscalation' && cannotDropEscalation(request.mutated, path))
          continue;
        if (v.reason === 'runAsNonRoot' && leftForRootUser(request.mutated, path)) continue;
        if (getIn(request.mutated, path) === undefined) {
          problems.push(
            `${request.where}: mutated ${request.kind} still denied for ${v.reason} at unset ${v.path}`,
          );
        }
      }
    }
    console.log(`e2e corpus (${CORPUS}):`, JSON.stringify({ ...counts, windowsPods: windows }));
    expect(problems).toEqual([]);
    expect(objects.length).toBeGreaterThan(500);
  }, 180_000);
});

async function decisionLines(child: ChildServer, expected: number): Promise<LogLine[]> {
  const deadline = Date.now() + 10_000;
  const pick = () =>
    child.logs.filter((l) => l.msg === 'admission decision' && l.webhook === 'validate');
  while (pick().length < expected && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  expect(pick().length).toBe(expected);
  return pick();
}
