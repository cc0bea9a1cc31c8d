// `phi-guard check`, `mutate` and `certs` in-process: verdicts and exit codes on the fixtures in
// test/fixtures/cli, the webhook's own messages, the three report formats, and config errors.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { parse as parseYaml, stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCheck, type CheckOptions } from '../src/cli/check.js';
import { runMutate, type MutateOptions } from '../src/cli/mutate.js';
import { runCerts } from '../src/cli/certs.js';
import { parseManifests } from '../src/cli/documents.js';
import { judgeOffline, loadEngine, offlineInput } from '../src/cli/offline.js';
import { memoryIo } from '../src/cli/output/io.js';
import { main, packageVersion } from '../src/cli.js';
import type { ConfigInput } from '../src/config/schema.js';
import type { KubeObject } from '../src/engine/policy.js';
import { builtinPolicies } from './fixtures/admission.js';
import { findAll, parseXml, xmlSafe } from './fixtures/cli/xml.js';
import { writeBrokenFixtures } from './fixtures/cli/broken.js';

const { applyPatch, deepClone } = fastJsonPatch;
const FIXTURES = join(import.meta.dirname, 'fixtures', 'cli');
const tmp = mkdtempSync(join(tmpdir(), 'phi-guard-cli-'));
const broken = writeBrokenFixtures(tmp);
const BROKEN: Record<string, string> = {
  'bad-syntax.yaml': broken.badSyntax,
  'unrendered-template.yaml': broken.template,
};
const fixture = (name: string): string => BROKEN[name] ?? join(FIXTURES, name);

/** Writes a config with only `policies` on (their settings as given) and every other policy off. */
async function onlyConfig(
  name: string,
  policies: Record<string, object>,
  extra: ConfigInput = {},
): Promise<string> {
  const doc: ConfigInput = { ...extra, policies: {} };
  for (const id of (await builtinPolicies()).keys())
    doc.policies![id] = policies[id] ?? { mode: 'off' };
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(path, stringify(doc));
  return path;
}

async function check(options: Partial<CheckOptions> & { paths: string[] }) {
  const io = memoryIo();
  const code = await runCheck(options, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

interface JsonReport {
  files: Array<{
    file: string;
    objects: Array<{
      name: string;
      kind: string;
      allowed: boolean;
      denials: string[];
      warnings: string[];
      patched: string[];
    }>;
    notes: Array<{ kind: string }>;
    problem?: { kind: string; line?: number; message: string };
  }>;
  summary: {
    files: number;
    objects: number;
    denied: number;
    allowed: number;
    unparsable: number;
    exitCode: number;
  };
}

let podSecurityOnly: string;
beforeAll(async () => {
  podSecurityOnly = await onlyConfig('pod-security-only', { 'pod-security': { mode: 'enforce' } });
});

describe('check verdicts and exit codes', () => {
  const cases: Array<{
    name: string;
    paths: string[];
    code: number;
    includes: string[];
    options?: Partial<CheckOptions>;
  }> = [
    {
      name: 'compliant Deployment under the built-in defaults',
      paths: ['compliant-deployment.yaml'],
      code: 0,
      includes: [
        'Summary: 1 file, 1 object: 1 allowed',
        '1 would be mutated',
        'Result: passed (exit 0)',
      ],
    },
    {
      name: 'Pod with a privileged container',
      paths: ['privileged-pod.yaml'],
      code: 1,
      includes: [
        'privileged-pod.yaml:2: denied: [pod-security] Pod clinic/debug-shell: spec.containers[0].securityContext.privileged: ',
        'Result: failed: enforce-mode violations (exit 1)',
      ],
    },
    {
      name: 'privileged: yes (a YAML 1.1 boolean for kubectl)',
      paths: ['yes-means-true.yaml'],
      code: 1,
      includes: [
        '[pod-security] Pod clinic/yes-privileged: spec.containers[0].securityContext.privileged',
      ],
    },
    {
      name: 'multi-document file with an empty and a scalar document',
      paths: ['multi-doc.yaml'],
      code: 1,
      includes: [
        'multi-doc.yaml:19: note: document 3: is a scalar, not an object; skipped',
        'multi-doc.yaml:21: denied: [pod-security] Pod clinic/loud: spec.hostNetwork',
        '2 objects: 1 allowed (0 with warnings), 1 denied',
        '2 documents skipped',
      ],
    },
    {
      name: 'List and typed PodList',
      paths: ['list.yaml'],
      code: 1,
      includes: [
        'list.yaml:13: denied: [pod-security] Pod clinic/listed-privileged',
        'list.yaml:29: denied: [pod-security] Pod clinic/typed-item: spec.hostPID',
        'list.yaml:24: note: document 1, item 2: is a scalar, not an object; skipped',
        '3 objects: 1 allowed',
      ],
    },
    {
      name: 'folder walked recursively (dot-folders skipped)',
      paths: ['tree'],
      code: 1,
      includes: [
        'sub/b.yml:1: denied: [pod-security] Pod clinic/tree-b: spec.hostIPC',
        '3 files, 3 objects: 2 allowed',
      ],
    },
    {
      name: 'a mapping without kind only',
      paths: ['not-kubernetes.yaml'],
      code: 0,
      includes: ['not-kubernetes.yaml:2: note: document 1: has no kind or apiVersion', '0 objects'],
    },
    {
      name: 'missing file next to a violating one',
      paths: ['nope.yaml', 'privileged-pod.yaml'],
      code: 2,
      includes: ['nope.yaml: error: no such file or directory', '2 files (1 unreadable)', 'exit 2'],
    },
    {
      name: 'YAML syntax error',
      paths: ['bad-syntax.yaml'],
      code: 2,
      includes: ['bad-syntax.yaml:7:1: error: YAML: ', '1 file (1 unparsable)'],
    },
    {
      name: 'YAML syntax error with --skip-unparsable',
      paths: ['bad-syntax.yaml', 'compliant-deployment.yaml'],
      options: { skipUnparsable: true },
      code: 0,
      includes: [
        'bad-syntax.yaml:7:1: error: YAML: ',
        '2 files (1 unparsable (skipped))',
        'exit 0',
      ],
    },
    {
      name: 'unrendered template with --skip-unparsable next to a violation',
      paths: ['unrendered-template.yaml', 'privileged-pod.yaml'],
      options: { skipUnparsable: true },
      code: 1,
      includes: ['unrendered-template.yaml:5:28: error: YAML: ', 'unrendered template'],
    },
  ];

  it.each(cases)('$name: exit $code', async ({ paths, code, includes, options }) => {
    const run = await check({ paths: paths.map(fixture), ...options });
    expect(run.err).toBe('');
    for (const text of includes) expect(run.out).toContain(text);
    expect(run.code).toBe(code);
  });

  it('prints for each denial and warning the message the webhooks would send', async () => {
    const engine = await loadEngine(undefined);
    const object = parseManifests(readFileSync(fixture('privileged-pod.yaml'), 'utf8'), 'x')
      .objects[0]!.object;
    const { validation } = await judgeOffline(engine, offlineInput(object));
    const run = await check({ paths: [fixture('privileged-pod.yaml')] });

    const denials = run.out
      .split('\n')
      .filter((l) => l.includes(': denied: '))
      .map((l) => l.split(': denied: ')[1]);
    expect(validation.message.split('\n')).toEqual(denials);
    expect(denials.length).toBeGreaterThan(0);
  });

  it('judges objects as written with --no-mutate (no pod-security defaults)', async () => {
    const mutated = await check({
      paths: [fixture('compliant-deployment.yaml')],
      config: podSecurityOnly,
    });
    const asWritten = await check({
      paths: [fixture('compliant-deployment.yaml')],
      config: podSecurityOnly,
      mutate: false,
    });
    expect(mutated.code).toBe(0);
    expect(asWritten.code).toBe(1);
    expect(asWritten.out).toContain('runAsNonRoot');
    expect(asWritten.out).toContain('judged as written (--no-mutate)');
  });

  it('reports warn-mode findings as warnings and exits 0', async () => {
    const config = await onlyConfig('pod-security-warn', { 'pod-security': { mode: 'warn' } });
    const run = await check({ paths: [fixture('privileged-pod.yaml')], config });
    expect(run.code).toBe(0);
    expect(run.out).toMatch(
      /privileged-pod\.yaml:2: warning: \[pod-security\] Pod clinic\/debug-shell: .*\(warn mode: not denied yet\)/,
    );
    expect(run.out).toMatch(/pod-security +warn +0 +[1-9]/);
  });

  it('judges an object that names no namespace in --namespace', async () => {
    const config = podSecurityOnly;
    const inDefault = await check({ paths: [fixture('tree/sub/c.json')], config, output: 'json' });
    const inRecords = await check({
      paths: [fixture('tree/sub/c.json')],
      config,
      output: 'json',
      namespace: 'records',
    });
    expect(inDefault.out).toContain('"namespace": "default"');
    expect(inRecords.out).toContain('"namespace": "records"');
  });
});

describe('check with Namespaces among the files', () => {
  it('gives a Namespace defined in one file its labels in every other file', async () => {
    const config = await onlyConfig('network-exposure-only', {
      'network-exposure': { mode: 'enforce' },
    });
    const alone = await check({ paths: [fixture('phi-namespace/service.yaml')], config });
    const together = await check({ paths: [fixture('phi-namespace')], config });

    expect(alone.code).toBe(0);
    expect(together.out).toContain(
      'service.yaml:2: denied: [network-exposure] Service records/records-api: spec.type',
    );
    expect(together.code).toBe(1);
  });
});

describe('check config handling', () => {
  it('a bad config exits 2 and names every bad field by its path', async () => {
    const run = await check({
      paths: [fixture('privileged-pod.yaml')],
      config: fixture('bad-config.yaml'),
    });
    expect(run.code).toBe(2);
    expect(run.out).toBe('');
    expect(run.err).toContain(`invalid config ${fixture('bad-config.yaml')}`);
    expect(run.err).toContain('policies.pod-security.mode: ');
    expect(run.err).toContain('exceptions.0.reason: ');
  });

  it('a bad config still yields a JUnit or JSON report saying why nothing was judged', async () => {
    const config = fixture('bad-config.yaml');
    const paths = [fixture('privileged-pod.yaml')];
    const junitRun = await check({ paths, config, output: 'junit' });
    const jsonRun = await check({ paths, config, output: 'json' });

    expect(junitRun.code).toBe(2);
    const root = parseXml(junitRun.out);
    expect(root.attributes).toMatchObject({ tests: '1', failures: '0', errors: '1' });
    const error = findAll(root, 'error')[0]!;
    expect(error.attributes.type).toBe('config');
    expect(error.attributes.message).toContain('policies.pod-security.mode: ');
    expect(findAll(root, 'testcase')[0]!.attributes.name).toBe(`load ${config}`);

    expect(jsonRun.code).toBe(2);
    const json = JSON.parse(jsonRun.out) as { config: string; error: string; issues: string[] };
    expect(json).toMatchObject({ config, error: 'invalid config' });
    expect(json.issues.some((i) => i.startsWith('exceptions.0.reason: '))).toBe(true);
  });

  it('--config alone validates a good config and exits 0', async () => {
    const run = await check({ paths: [], config: podSecurityOnly });
    expect(run.code).toBe(0);
    expect(run.out).toContain(`config ${podSecurityOnly} is valid`);
    expect(run.out).toMatch(/enforce: pod-security\n/);
  });

  it('--config alone names an expired exception, which is valid but ignored', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'phi-guard-expired-')), 'config.yaml');
    const exception = (name: string, expires: string) =>
      `  - { name: ${name}, policies: [pod-security], reason: vendor image, ` +
      `expires: "${expires}" }\n`;
    writeFileSync(
      config,
      `exceptions:\n${exception('old-one', '2020-01-01')}${exception('current', '2999-12-31')}`,
    );
    const run = await check({ paths: [], config });
    expect(run.code).toBe(0);
    expect(run.out).toContain('  exceptions: 2\n');
    expect(run.out).toContain(
      '  note: exception "old-one" expired on 2020-01-01 and is ignored; ' +
        'renew its expires date or remove it',
    );
    expect(run.out).not.toContain('"current"');
  });

  it('the Secrets note without --as is left out when gitops-secrets is off', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'phi-guard-secrets-off-')), 'config.yaml');
    writeFileSync(config, 'policies:\n  gitops-secrets: { mode: "off" }\n');
    const on = await check({ paths: [fixture('plain-secret.yaml')] });
    const off = await check({ paths: [fixture('plain-secret.yaml')], config });
    expect(on.out).toContain('Note: 1 Secret judged as applied by a person (no --as)');
    expect(off.out).not.toContain('Note: ');
  });

  it('--config alone with a bad config exits 2', async () => {
    const run = await check({ paths: [], config: fixture('bad-config.yaml') });
    expect(run.code).toBe(2);
    expect(run.err).toContain('policies.pod-security.mode: ');
  });

  it('a missing config file exits 2 naming the file', async () => {
    const run = await check({
      paths: [fixture('privileged-pod.yaml')],
      config: join(tmp, 'absent.yaml'),
    });
    expect(run.code).toBe(2);
    expect(run.err).toContain('absent.yaml');
    expect(run.err).toContain('cannot read file');
  });

  it('neither paths nor --config is a usage error', async () => {
    const run = await check({ paths: [] });
    expect(run.code).toBe(2);
    expect(run.err).toContain('name at least one file or folder');
  });
});

describe('check --output json', () => {
  it('is one JSON document matching the text verdicts, without object contents', async () => {
    const paths = ['multi-doc.yaml', 'list.yaml', 'bad-syntax.yaml'].map(fixture);
    const run = await check({
      paths,
      output: 'json',
      skipUnparsable: true,
      config: podSecurityOnly,
    });
    const report = JSON.parse(run.out) as JsonReport;

    expect(report.summary).toMatchObject({
      files: 3,
      objects: 5,
      denied: 3,
      allowed: 2,
      unparsable: 1,
      exitCode: 1,
    });
    expect(
      report.files.map((f) => f.objects.map((o) => `${o.kind}/${o.name}:${o.allowed}`)),
    ).toEqual([
      ['Pod/quiet:true', 'Pod/loud:false'],
      ['ConfigMap/settings:true', 'Pod/listed-privileged:false', 'Pod/typed-item:false'],
      [],
    ]);
    expect(report.files[2]!.problem).toMatchObject({ kind: 'unparsable', line: 7 });
    expect(report.files[1]!.objects[2]!.denials[0]).toMatch(
      /^\[pod-security\] Pod clinic\/typed-item: spec\.hostPID: /,
    );
    // ConfigMap data and images are object contents: the report names fields, not values.
    expect(run.out).not.toContain('strict');
    expect(run.out).not.toContain('"value"');
    expect(run.code).toBe(1);
  });
});

describe('check --output junit', () => {
  it('is well-formed XML: one testsuite per file, one testcase per object, failures for denials', async () => {
    const paths = ['multi-doc.yaml', 'list.yaml', 'bad-syntax.yaml'].map(fixture);
    const run = await check({ paths, output: 'junit', config: podSecurityOnly });
    const root = parseXml(run.out);

    expect(root.name).toBe('testsuites');
    const suites = findAll(root, 'testsuite');
    expect(suites.map((s) => s.attributes.name)).toEqual(paths);
    const cases = suites.map((s) => s.children.map((c) => c.attributes.name));
    expect(cases[0]).toEqual(['line 19', 'Pod clinic/quiet (line 2)', 'Pod clinic/loud (line 21)']);
    expect(cases[1]).toEqual([
      'line 24',
      'ConfigMap clinic/settings (line 6)',
      'Pod clinic/listed-privileged (line 13)',
      'Pod clinic/typed-item (line 29)',
    ]);
    expect(findAll(root, 'failure')).toHaveLength(3);
    expect(findAll(suites[2]!, 'error')[0]!.attributes).toMatchObject({ type: 'unparsable' });
    expect(root.attributes).toMatchObject({ tests: '8', failures: '3', errors: '1', skipped: '2' });
    expect(run.code).toBe(2);
  });

  it('escapes markup and drops characters XML cannot carry in messages', async () => {
    const json = JSON.parse(
      (await check({ paths: [fixture('escaping.yaml')], output: 'json', config: podSecurityOnly }))
        .out,
    ) as JsonReport;
    const run = await check({
      paths: [fixture('escaping.yaml')],
      output: 'junit',
      config: podSecurityOnly,
    });
    const failure = findAll(parseXml(run.out), 'failure')[0]!;

    const denials = json.files[0]!.objects[0]!.denials;
    expect(denials[0]).toContain('<b>&c');
    expect(failure.attributes.message).toBe(
      xmlSafe(`${denials[0]} (and ${denials.length - 1} more)`),
    );
    expect(failure.text).toBe(xmlSafe(denials.join('\n')).split(']]>').join(']] >'));
    expect(failure.attributes.type).toBe('pod-security');
  });
});

describe('mutate', () => {
  async function mutate(options: MutateOptions) {
    const io = memoryIo();
    const code = await runMutate(options, io);
    return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  }
  const read = (name: string): KubeObject[] =>
    parseManifests(readFileSync(fixture(name), 'utf8'), name).objects.map((o) => o.object);

  it('prints the object as its patch leaves it, and the patch applies to the file', async () => {
    const [original] = read('compliant-deployment.yaml');
    const yaml = await mutate({ file: fixture('compliant-deployment.yaml') });
    const patch = await mutate({ file: fixture('compliant-deployment.yaml'), patch: true });

    const ops = JSON.parse(patch.out) as fastJsonPatch.Operation[];
    expect(ops.length).toBeGreaterThan(0);
    const patched = applyPatch(deepClone(original), ops, true, false).newDocument;
    expect(parseManifests(yaml.out, 'out.yaml').objects[0]!.object).toEqual(patched);
    expect(yaml.code).toBe(0);
  });

  it('adds nothing on a second pass over its own output', async () => {
    const first = await mutate({ file: fixture('compliant-deployment.yaml') });
    const again = join(tmp, 'mutated.yaml');
    writeFileSync(again, first.out);
    expect(JSON.parse((await mutate({ file: again, patch: true })).out)).toEqual([]);
  });

  it('prints several objects as a List in JSON, and notes skipped documents on stderr', async () => {
    const run = await mutate({ file: fixture('multi-doc.yaml'), output: 'json' });
    const list = JSON.parse(run.out) as { kind: string; items: KubeObject[] };
    expect(list.kind).toBe('List');
    expect(list.items.map((i) => (i.metadata as { name: string }).name)).toEqual(['quiet', 'loud']);
    expect(run.err).toContain('multi-doc.yaml:19: note: document 3');
  });

  it('keeps YAML 1.1-ambiguous strings quoted, so kubectl reads them back as strings', async () => {
    const run = await mutate({ file: fixture('yes-string.yaml') });
    expect(parseYaml(run.out, { version: '1.1' })).toEqual(read('yes-string.yaml')[0]);
    expect(parseManifests(run.out, 'out.yaml').objects[0]!.object.data).toEqual({
      enabled: 'yes',
      mode: '0644',
      when: '12:30',
    });
  });

  it.each([
    ['missing file', 'nope.yaml', 'no such file or directory'],
    ['YAML syntax error', 'bad-syntax.yaml', 'bad-syntax.yaml:7: error: YAML'],
  ])('%s exits 2', async (_name, file, message) => {
    const run = await mutate({ file: fixture(file) });
    expect(run.code).toBe(2);
    expect(run.err).toContain(message);
    expect(run.out).toBe('');
  });

  it('a bad config exits 2 with its issues', async () => {
    const run = await mutate({
      file: fixture('privileged-pod.yaml'),
      config: fixture('bad-config.yaml'),
    });
    expect(run.code).toBe(2);
    expect(run.err).toContain('policies.pod-security.mode: ');
  });
});

describe('certs', () => {
  it('writes a CA and a serving certificate, then keeps them while valid', async () => {
    const out = join(tmp, 'certs');
    const first = memoryIo();
    const second = memoryIo();
    expect(await runCerts({ out, dnsNames: ['phi-guard.phi-guard.svc'] }, first)).toBe(0);
    expect(await runCerts({ out, dnsNames: ['phi-guard.phi-guard.svc'] }, second)).toBe(0);

    for (const file of ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'])
      expect(existsSync(join(out, file))).toBe(true);
    expect(first.stdout.join('')).toContain('wrote new development certificates');
    expect(first.stdout.join('')).toContain(join(out, 'tls.crt'));
    expect(second.stdout.join('')).toContain('kept the existing certificates');
  });
});

describe('main', () => {
  async function run(argv: string[]) {
    const io = memoryIo();
    const code = await main(argv, io);
    return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  }

  it.each([
    { argv: ['--version'], code: 0, out: packageVersion() },
    { argv: ['check', '--help'], code: 0, out: 'Exit codes:' },
    { argv: ['check', fixture('privileged-pod.yaml')], code: 1, out: 'denied: [pod-security]' },
    {
      argv: ['check', '-o', 'json', fixture('compliant-deployment.yaml')],
      code: 0,
      out: '"exitCode": 0',
    },
    {
      argv: [
        'check',
        '--no-mutate',
        '-c',
        podSecurityOnlyPath(),
        fixture('compliant-deployment.yaml'),
      ],
      code: 1,
      out: 'runAsNonRoot',
    },
    { argv: ['chek', 'x.yaml'], code: 2, err: "unknown command 'chek'" },
    { argv: ['check', '-o', 'xml', 'x.yaml'], code: 2, err: 'xml' },
    {
      argv: ['check', '--config', fixture('bad-config.yaml')],
      code: 2,
      err: 'policies.pod-security.mode',
    },
  ])('phi-guard $argv exits $code', async ({ argv, code, out, err }) => {
    const result = await run(argv);
    if (out) expect(result.out).toContain(out);
    if (err) expect(result.err).toContain(err);
    expect(result.err).not.toMatch(/^\s+at /m);
    expect(result.code).toBe(code);
  });

  it('the version is the one in package.json', () => {
    const pkg = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(packageVersion()).toBe(pkg.version);
  });
});

// Table rows are built before beforeAll runs, so this row names the path onlyConfig will write.
function podSecurityOnlyPath(): string {
  return join(tmp, 'pod-security-only.yaml');
}
