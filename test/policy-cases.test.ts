// Every policy case table in test/cases/ run twice more, outside the engine: (a) through
// `phi-guard check` in-process on a YAML file, for cases a file can express, and (b) through a
// real HTTPS server (startServer, development certificates) answering AdmissionReviews on
// /validate. Each case runs with its own config and every other policy off.
//
// `check` runs with --no-mutate: the tables state what the validating webhook decides about the
// object as given, and the mutating webhook's defaults would change that object first.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Document, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../src/cli/check.js';
import { memoryIo } from '../src/cli/output/io.js';
import type { AdmissionInput } from '../src/engine/engine.js';
import type { ConfigInput } from '../src/config/schema.js';
import type { PolicyCase } from './cases/types.js';
import { builtinPolicies, makeInput } from './fixtures/admission.js';
import { startTestServer, type TestServer } from './fixtures/server.js';

const CASES_DIR = join(import.meta.dirname, 'cases');
const tmp = mkdtempSync(join(tmpdir(), 'phi-guard-policy-cases-'));

interface Table {
  file: string;
  cases: PolicyCase[] | undefined;
}

// Tables appear as policies are written: whatever exists now is run.
async function loadTables(): Promise<Table[]> {
  const files = readdirSync(CASES_DIR)
    .filter((f) => f.endsWith('.ts') && f !== 'types.ts')
    .sort();
  const tables: Table[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(CASES_DIR, file)).href)) as { cases?: unknown };
    tables.push({
      file,
      cases: Array.isArray(mod.cases) ? (mod.cases as PolicyCase[]) : undefined,
    });
  }
  return tables;
}

const tables = await loadTables();
const policyIds = [...(await builtinPolicies()).keys()];

/** The case's config with every other policy off, as engineWith(config, {only: [policy]}) builds it. */
function caseConfig(c: PolicyCase): ConfigInput {
  const doc: ConfigInput = { ...(c.config ?? {}), policies: { ...(c.config?.policies ?? {}) } };
  for (const id of policyIds) {
    if (id !== c.policy) doc.policies![id] = { ...(doc.policies![id] ?? {}), mode: 'off' };
  }
  return doc;
}

let written = 0;
function writeTemp(extension: string, text: string): string {
  written += 1;
  const path = join(tmp, `${written}.${extension}`);
  writeFileSync(path, text);
  return path;
}

// A file with `check --as` can only say "this user creates this object": any other request
// field needs a live request.
function expressibleAsFile(c: PolicyCase): boolean {
  const request = Object.entries(c.request ?? {});
  const plainCreate = request.every(
    ([key, value]) => (key === 'operation' && value === 'CREATE') || key === 'userInfo',
  );
  return c.offline !== false && c.object !== undefined && plainCreate;
}

interface CheckedObject {
  allowed: boolean;
  denials: string[];
  warnings: string[];
  results: Array<{ policy: string; outcome: string; reason: string; message: string }>;
}

async function checkOffline(c: PolicyCase): Promise<{ code: number; object: CheckedObject }> {
  // YAML 1.1 quoting keeps strings such as "yes" strings when check reads the file back.
  const file = writeTemp('yaml', new Document(c.object, { version: '1.1' }).toString());
  const config = writeTemp('yaml', stringify(caseConfig(c)));
  const io = memoryIo();
  const user = c.request?.userInfo;
  const as = user ? { as: user.username, asGroup: user.groups } : {};
  const code = await runCheck({ paths: [file], config, output: 'json', mutate: false, ...as }, io);
  expect(io.stderr).toEqual([]);
  const report = JSON.parse(io.stdout.join('')) as { files: Array<{ objects: CheckedObject[] }> };
  expect(report.files[0]!.objects).toHaveLength(1);
  return { code, object: report.files[0]!.objects[0]! };
}

// The same expectations as test/fixtures/cases.ts puts on the engine's Decision, read from the
// JSON report: outcomes, reasons, and the message parts in what the webhook would print.
function expectOfflineVerdict(c: PolicyCase, code: number, object: CheckedObject): void {
  const outcomes = [...new Set(object.results.map((r) => r.outcome))];
  if (c.expect === 'allowed') expect(object.results).toEqual([]);
  if (c.expect === 'denied') expect(object.allowed).toBe(false);
  if (c.expect === 'warned') expect(object.warnings).not.toEqual([]);
  if (c.expect === 'audited' || c.expect === 'excepted') expect(outcomes).toEqual([c.expect]);
  expect(code, object.denials.join('\n')).toBe(c.expect === 'denied' ? 1 : 0);

  expect(object.results.map((r) => r.reason)).not.toContain('policy-error');
  if (c.reasons) {
    expect([...new Set(object.results.map((r) => r.reason))].sort()).toEqual([...c.reasons].sort());
  }
  const text = [
    ...object.denials,
    ...object.warnings,
    ...object.results.map((r) => r.message),
  ].join('\n');
  for (const part of c.messageIncludes ?? []) expect(text).toContain(part);
}

/** The AdmissionReview the API server would send for `input` (admission.k8s.io/v1). */
function reviewOf(input: AdmissionInput): Record<string, unknown> {
  const kind = { group: input.group, version: input.version, kind: input.kind };
  const connect = input.operation === 'CONNECT';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: input.uid,
      kind,
      resource: { group: input.group, version: input.version, resource: input.resource },
      subResource: input.subResource || undefined,
      requestKind: kind,
      name: input.name,
      namespace: input.namespace || undefined,
      operation: input.operation,
      userInfo: input.userInfo,
      // CONNECT carries its options (PodExecOptions...) in `object` (AdmissionRequest reference).
      object: connect ? (input.options ?? null) : (input.object ?? null),
      oldObject: input.oldObject ?? null,
      dryRun: input.dryRun,
      options: connect ? null : (input.options ?? null),
    },
  };
}

interface ReviewResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

function expectServerVerdict(c: PolicyCase, response: ReviewResponse): void {
  const annotations = response.auditAnnotations ?? {};
  const listed = (key: string): string[] => (annotations[key] ?? '').split(',');
  let text = '';
  if (c.expect === 'denied') {
    expect(response.allowed).toBe(false);
    expect(response.status?.code).toBe(403);
    expect(listed('denied-by')).toContain(c.policy);
    text = response.status?.message ?? '';
  } else {
    expect(response.allowed, response.status?.message).toBe(true);
  }
  if (c.expect === 'warned') {
    expect(response.warnings ?? []).not.toEqual([]);
    expect(listed('warned-by')).toContain(c.policy);
    text = (response.warnings ?? []).join('\n');
  }
  if (c.expect === 'audited') expect(listed('audited-by')).toContain(c.policy);
  if (c.expect === 'excepted') expect(annotations.exceptions).toBeDefined();
  if (c.expect === 'denied' || c.expect === 'warned') {
    for (const part of c.messageIncludes ?? []) expect(text).toContain(part);
  }
}

/** Cases grouped by their config, so that one server serves every case of a config. */
function byConfig(cases: readonly PolicyCase[]): PolicyCase[][] {
  const groups = new Map<string, PolicyCase[]>();
  for (const c of cases) {
    const key = JSON.stringify(caseConfig(c));
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.values()];
}

it('finds at least one case table in test/cases', () => {
  expect(tables.map((t) => t.file)).not.toEqual([]);
});

describe.each(tables)('$file', ({ file, cases }) => {
  it('exports `cases: PolicyCase[]`', () => {
    expect(cases, `${file} must export const cases: PolicyCase[]`).toBeDefined();
  });
  const all = cases ?? [];
  const offline = all.filter(expressibleAsFile);

  // Tables whose every case needs a live request (a user, an UPDATE...) have nothing to check.
  describe.runIf(offline.length > 0)('phi-guard check --no-mutate', () => {
    it.each(offline)('$name: $expect', async (c) => {
      const { code, object } = await checkOffline(c);
      expectOfflineVerdict(c, code, object);
    });
  });

  describe.each(byConfig(all).map((group, i) => ({ group, n: i + 1 })))(
    'HTTPS /validate, config $n',
    ({ group }) => {
      let server: TestServer;
      beforeAll(async () => {
        const configPath = writeTemp('yaml', stringify(caseConfig(group[0]!)));
        server = await startTestServer({ configPath, logLevel: 'silent' });
      });
      afterAll(async () => server?.close());

      it.each(group)('$name: $expect', async (c) => {
        const input = makeInput(c.object, c.request);
        const answer = await server.client.post('/validate', reviewOf(input));
        expect(answer.status, answer.text).toBe(200);
        const response = (answer.json as { response: ReviewResponse }).response;
        expect(response.uid).toBe(input.uid);
        expectServerVerdict(c, response);
      });
    },
  );
});
