/**
 * Agreement with the Kyverno policy library's own tests, for the Kyverno policies that have a
 * counterpart among encrypted-storage, trusted-images, workload-metadata and network-exposure.
 *
 * Data: ../shared/conformance/kyverno-policies (README.md, expectations.csv), used in place.
 * Every expectation row (Kyverno CLI `pass`/`fail`, Chainsaw `admit`/`reject`) runs through the
 * counterpart policy alone, in enforce mode, with the parameters closest to the Kyverno policy,
 * through both webhooks as the API server calls them: mutate, apply the patch, validate.
 * Where phi-guard differs on purpose, the row is listed in DELIBERATE with its reason and must
 * still differ, so that the list cannot go stale; every other row must agree.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import fastJsonPatch from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import type { Engine } from '../src/engine/engine.js';
import type { KubeObject } from '../src/engine/policy.js';
import { engineWith, makeInput } from './fixtures/admission.js';

const { applyPatch, deepClone } = fastJsonPatch;

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIR = resolve(REPO_ROOT, '../shared/conformance/kyverno-policies');
const CSV = join(DIR, 'expectations.csv');

/** Our policy for a Kyverno policy, and the parameters that make it the closest equivalent. */
interface Counterpart {
  policy: string;
  params: Record<string, unknown>;
}

const NO_RESOURCE_CHECKS = { cpuRequest: false, memoryRequest: false, memoryLimit: false };

const COUNTERPARTS: Record<string, Counterpart> = {
  // Any non-empty class passes in Kyverno: approve every class name.
  'require-storageclass': { policy: 'encrypted-storage', params: { approvedClasses: ['*'] } },
  // Kyverno checks only reclaimPolicy: approve every class, require Delete, and treat the in-tree
  // EBS provisioner as encrypted by the account (AWS "EBS encryption by default").
  'restrict-storageclass': {
    policy: 'encrypted-storage',
    params: {
      approvedClasses: ['*'],
      reclaimPolicy: 'Delete',
      provisioners: { 'kubernetes.io/aws-ebs': {} },
    },
  },
  'disallow-latest-tag': { policy: 'trusted-images', params: { allowedRegistries: ['*'] } },
  'restrict-image-registries': {
    policy: 'trusted-images',
    params: { allowedRegistries: ['eu.foo.io', 'bar.io'], denyLatest: false },
  },
  'require-image-checksum': {
    policy: 'trusted-images',
    params: { allowedRegistries: ['*'], denyLatest: false, requireDigest: { namespaces: ['*'] } },
  },
  'require-labels': {
    policy: 'workload-metadata',
    params: {
      requiredLabels: ['app.kubernetes.io/name'],
      allowedValues: {},
      resources: NO_RESOURCE_CHECKS,
    },
  },
  'require-pod-requests-limits': {
    policy: 'workload-metadata',
    params: { requiredLabels: [], allowedValues: {} },
  },
  'restrict-loadbalancer': {
    policy: 'network-exposure',
    params: { phiNamespaces: ['*'], deniedServiceTypes: ['LoadBalancer'], denyExternalIPs: false },
  },
  'restrict-node-port': {
    policy: 'network-exposure',
    params: { phiNamespaces: ['*'], deniedServiceTypes: ['NodePort'], denyExternalIPs: false },
  },
  'require-ingress-https': {
    policy: 'network-exposure',
    params: { phiNamespaces: ['*'], requireHttpDisabled: true },
  },
  'ingress-host-match-tls': { policy: 'network-exposure', params: { phiNamespaces: ['*'] } },
};

const DEFAULTS_INSTEAD =
  'phi-guard fills in the default encrypted class on CREATE instead of denying';
const LABELS_ON_CONTROLLER =
  'phi-guard requires the labels on the controller object too, not only on its pod template';

/** Rows where phi-guard differs on purpose: `policy-dir harness name` → one-line reason. */
const DELIBERATE: Record<string, string> = {
  'require-storageclass kyverno-cli badpvc': DEFAULTS_INSTEAD,
  'require-storageclass kyverno-cli badss': DEFAULTS_INSTEAD,
  'require-storageclass chainsaw badss': DEFAULTS_INSTEAD,
  'require-labels chainsaw reqlabels-gooddeployment01': LABELS_ON_CONTROLLER,
  'require-labels chainsaw reqlabels-goodcronjob01': LABELS_ON_CONTROLLER,
  'ingress-host-match-tls chainsaw goodingress07':
    'a rule without host and a default backend answer any host name, which no TLS entry can cover',
};

/** One line of expectations.csv. */
interface Row {
  policyDir: string;
  harness: string;
  file: string;
  kind: string;
  name: string;
  expected: string;
  /** Which object of that kind and name in `file` (Chainsaw files repeat names). */
  occurrence: number;
}

function readRows(): Row[] {
  const [header, ...lines] = readFileSync(CSV, 'utf8').trim().split('\n');
  const columns = (header ?? '').split(',');
  const col = (cells: string[], name: string): string => cells[columns.indexOf(name)] ?? '';
  const seen = new Map<string, number>();
  return lines
    .map((line) => line.split(','))
    .filter((cells) => COUNTERPARTS[col(cells, 'policy_dir')] !== undefined)
    .map((cells) => {
      const row = {
        policyDir: col(cells, 'policy_dir'),
        harness: col(cells, 'harness'),
        file: col(cells, 'file'),
        kind: col(cells, 'kind'),
        name: col(cells, 'name'),
        expected: col(cells, 'expected'),
      };
      const key = `${row.policyDir} ${row.file} ${row.kind} ${row.name}`;
      const occurrence = row.harness === 'chainsaw' ? (seen.get(key) ?? 0) : 0;
      seen.set(key, occurrence + 1);
      return { ...row, occurrence };
    });
}

const documents = new Map<string, KubeObject[]>();

function objectFor(row: Row): KubeObject {
  const path = join(DIR, row.policyDir, row.file);
  let docs = documents.get(path);
  if (!docs) {
    docs = parseAllDocuments(readFileSync(path, 'utf8'))
      .map((d) => d.toJS() as unknown)
      .filter((d): d is KubeObject => typeof d === 'object' && d !== null);
    documents.set(path, docs);
  }
  const matches = docs.filter(
    (d) => d.kind === row.kind && (d.metadata as { name?: string })?.name === row.name,
  );
  const found = matches[row.occurrence];
  if (!found)
    throw new Error(`${row.policyDir}/${row.file}: no ${row.kind} ${row.name} #${row.occurrence}`);
  return found;
}

/** Mutates, applies the patch, validates: true when the request would be refused. */
async function refused(engine: Engine, object: KubeObject): Promise<boolean> {
  const mutated = await engine.evaluate(makeInput(object), 'mutate');
  const patched =
    mutated.patch.length === 0
      ? object
      : (applyPatch(deepClone(object), deepClone(mutated.patch), true, false)
          .newDocument as KubeObject);
  const validated = await engine.evaluate(makeInput(patched), 'validate');
  return !mutated.allowed || !validated.allowed;
}

const exists = existsSync(CSV);
if (!exists) console.warn(`kyverno-conformance-a: skipped, ${DIR} (expectations.csv) is missing`);

describe.skipIf(!exists)(
  'Kyverno library conformance (storage, images, metadata, exposure)',
  () => {
    const rows = exists ? readRows() : [];
    const counts = new Map<string, { agree: number; differ: number }>();

    afterAll(() => {
      const lines = [...counts].map(
        ([p, c]) => `  ${p.padEnd(28)} agree ${c.agree}, deliberately differ ${c.differ}`,
      );
      console.info(`Kyverno conformance, mutate then validate, enforce mode:\n${lines.join('\n')}`);
    });

    it('finds rows for every counterpart', () => {
      expect(new Set(rows.map((r) => r.policyDir))).toEqual(new Set(Object.keys(COUNTERPARTS)));
    });

    it.each(Object.keys(COUNTERPARTS))('%s', async (policyDir) => {
      const { policy, params } = COUNTERPARTS[policyDir]!;
      const engine = await engineWith(
        { policies: { [policy]: { mode: 'enforce', params } } },
        { only: [policy] },
      );
      const tally = { agree: 0, differ: 0 };
      const mismatches: string[] = [];

      for (const row of rows.filter((r) => r.policyDir === policyDir)) {
        const expectRefused = row.expected === 'fail' || row.expected === 'reject';
        const wasRefused = await refused(engine, objectFor(row));
        const key = `${row.policyDir} ${row.harness} ${row.name}`;
        const deliberate = DELIBERATE[key];
        if (deliberate !== undefined && wasRefused !== expectRefused) tally.differ++;
        else if (deliberate === undefined && wasRefused === expectRefused) tally.agree++;
        else {
          const what = deliberate
            ? 'listed as a deliberate difference but agrees'
            : `expected ${row.expected}`;
          mismatches.push(`${row.harness} ${row.file} ${row.kind}/${row.name}: ${what}`);
        }
      }
      counts.set(policyDir, tally);
      expect(mismatches).toEqual([]);
    });

    it('lists no deliberate difference that matches no row', () => {
      const keys = new Set(rows.map((r) => `${r.policyDir} ${r.harness} ${r.name}`));
      expect(Object.keys(DELIBERATE).filter((k) => !keys.has(k))).toEqual([]);
    });
  },
);
