// Reading manifests for the offline commands: documents, Lists, notes, YAML errors with their
// line, kubectl's YAML 1.1 scalars, folder walking, and the AdmissionInput built for each object.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeText,
  findManifestFiles,
  MAX_MANIFEST_BYTES,
  parseManifests,
  readManifestFile,
} from '../src/cli/documents.js';
import { offlineInput } from '../src/cli/offline.js';
import { resourceOf } from '../src/engine/resources.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'cli');

describe('parseManifests', () => {
  const objectCases: Array<{
    name: string;
    text: string;
    kinds: string[];
    lines: number[];
    notes?: string[];
  }> = [
    {
      name: 'one object',
      text: 'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n',
      kinds: ['Pod'],
      lines: [1],
    },
    {
      name: 'three documents with a leading separator and a comment',
      text: '---\n# c\napiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Service\n---\napiVersion: v1\nkind: Secret\n',
      kinds: ['Pod', 'Service', 'Secret'],
      lines: [3, 6, 9],
    },
    {
      name: 'empty documents between objects',
      text: 'apiVersion: v1\nkind: Pod\n---\n---\n\n---\napiVersion: v1\nkind: Service\n',
      kinds: ['Pod', 'Service'],
      lines: [1, 7],
      notes: ['empty', 'empty'],
    },
    {
      name: 'a kubectl List with a scalar item',
      text: 'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n  - 7\n  - apiVersion: v1\n    kind: Service\n',
      kinds: ['Pod', 'Service'],
      lines: [4, 7],
      notes: ['not-object'],
    },
    {
      name: 'a typed PodList whose items omit their kind',
      text: 'apiVersion: v1\nkind: PodList\nitems:\n  - metadata: {name: a}\n',
      kinds: ['Pod'],
      lines: [4],
    },
    {
      name: 'an empty List',
      text: 'apiVersion: v1\nkind: List\nitems: []\n',
      kinds: [],
      lines: [],
    },
    {
      name: 'a list document and a scalar document',
      text: '- a\n- b\n---\nhello\n',
      kinds: [],
      lines: [],
      notes: ['not-object', 'not-object'],
    },
    {
      name: 'a mapping without kind',
      text: 'replicas: 3\n',
      kinds: [],
      lines: [],
      notes: ['not-kubernetes'],
    },
    {
      name: 'a JSON object',
      text: '{"apiVersion": "v1", "kind": "ConfigMap"}',
      kinds: ['ConfigMap'],
      lines: [1],
    },
    { name: 'an empty file', text: '', kinds: [], lines: [], notes: ['empty'] },
  ];

  it.each(objectCases)('$name', ({ text, kinds, lines, notes = [] }) => {
    const read = parseManifests(text, 'in.yaml');
    expect(read.problem).toBeUndefined();
    expect(read.objects.map((o) => o.object.kind)).toEqual(kinds);
    expect(read.objects.map((o) => o.line)).toEqual(lines);
    expect(read.notes.map((n) => n.kind)).toEqual(notes);
  });

  const problemCases: Array<{ name: string; text: string; line: number; includes: string }> = [
    { name: 'an unclosed flow sequence', text: 'a: 1\nb: [x\n', line: 3, includes: 'YAML' },
    {
      name: 'a duplicate key',
      text: 'kind: Pod\napiVersion: v1\nkind: Service\n',
      line: 3,
      includes: 'duplicate key "kind"',
    },
    { name: 'a tab used for indentation', text: 'a:\n\tb: 1\n', line: 2, includes: 'YAML' },
    {
      name: 'an unrendered template in key position',
      text: 'apiVersion: v1\nkind: ConfigMap\ndata:\n  {{ .Values.key }}: x\n',
      line: 4,
      includes: 'unrendered template',
    },
    {
      name: 'an unrendered template after a valid document',
      text: 'apiVersion: v1\nkind: Pod\n---\nname: {{ x }}-y\n',
      line: 4,
      includes: 'unrendered template',
    },
    {
      name: 'an alias bomb (exponential expansion)',
      text:
        'apiVersion: v1\nkind: ConfigMap\na: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n' +
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n' +
        'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
      line: 1,
      includes: 'document 1 cannot be read',
    },
  ];

  it.each(problemCases)(
    '$name is a problem at line $line and yields no object',
    ({ text, line, includes }) => {
      const read = parseManifests(text, 'in.yaml');
      expect(read.problem).toMatchObject({ kind: 'unparsable', line });
      expect(read.problem!.message).toContain(includes);
      expect(read.objects).toEqual([]);
    },
  );

  // kubectl reads YAML as go-yaml v2 does (YAML 1.1 scalars), see src/cli/documents.ts.
  const scalarCases: Array<{ name: string; yaml: string; value: unknown }> = [
    { name: 'yes is true', yaml: 'yes', value: true },
    { name: 'On is true', yaml: 'On', value: true },
    { name: 'off is false', yaml: 'off', value: false },
    { name: 'y is true', yaml: 'y', value: true },
    { name: 'quoted "yes" stays a string', yaml: '"yes"', value: 'yes' },
    { name: '0644 is octal', yaml: '0644', value: 420 },
    { name: 'a date stays a string', yaml: '2027-03-31', value: '2027-03-31' },
    { name: 'a time-like value stays a string', yaml: '12:30', value: '12:30' },
    { name: '~ is null', yaml: '~', value: null },
  ];

  it.each(scalarCases)('scalar: $name', ({ yaml, value }) => {
    const read = parseManifests(`apiVersion: v1\nkind: ConfigMap\nvalue: ${yaml}\n`, 'in.yaml');
    expect(read.objects[0]!.object.value).toEqual(value);
  });

  it('merge keys are resolved as go-yaml v2 resolves them', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nbase: &b {x: 1}\ndata:\n  <<: *b\n  z: 2\n';
    expect(parseManifests(text, 'in.yaml').objects[0]!.object.data).toEqual({ x: 1, z: 2 });
  });
});

describe('tool configuration files', () => {
  it.each([
    ['a kustomization.yaml', 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'],
    ['a kind cluster config', 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: []\n'],
  ])('%s is skipped with a note, not judged as an object', (_name, text) => {
    const read = parseManifests(text, 'tool.yaml');
    expect(read.objects).toEqual([]);
    expect(read.notes).toEqual([
      expect.objectContaining({
        kind: 'not-kubernetes',
        message: expect.stringMatching(
          /^document 1: is a \w+ \([a-z0-9.-]+\) file for a tool, not an API object; skipped$/,
        ),
      }),
    ]);
  });
});

describe('findManifestFiles', () => {
  it('walks a folder recursively for .yaml, .yml and .json, skipping dot-folders and other files', () => {
    const { files, problems } = findManifestFiles([join(FIXTURES, 'tree')]);
    expect(problems).toEqual([]);
    expect(files.map((f) => relative(FIXTURES, f))).toEqual([
      'tree/a.yaml',
      'tree/sub/b.yml',
      'tree/sub/c.json',
    ]);
  });

  it('keeps a file named explicitly whatever its extension, and reports a missing path', () => {
    const { files, problems } = findManifestFiles([
      join(FIXTURES, 'tree', 'notes.txt'),
      join(FIXTURES, 'nope.yaml'),
    ]);
    expect(files).toEqual([join(FIXTURES, 'tree', 'notes.txt')]);
    expect(problems).toEqual([
      {
        file: join(FIXTURES, 'nope.yaml'),
        kind: 'unreadable',
        message: 'no such file or directory',
      },
    ]);
  });

  it('follows a symbolic link to a folder once, even when it loops back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'phi-guard-walk-'));
    mkdirSync(join(dir, 'apps'));
    writeFileSync(join(dir, 'apps', 'pod.yaml'), 'apiVersion: v1\nkind: Pod\n');
    symlinkSync(dir, join(dir, 'apps', 'loop'));
    const { files } = findManifestFiles([dir]);
    expect(files).toEqual([join(dir, 'apps', 'pod.yaml')]);
  });
});

describe('readManifestFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phi-guard-read-'));
  const pod = readFileSync(join(FIXTURES, 'privileged-pod.yaml'), 'utf8');
  const write = (name: string, bytes: Buffer): string => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };
  const utf16be = (text: string): Buffer => Buffer.from(text, 'utf16le').swap16();

  it.each([
    ['UTF-8', Buffer.from(pod)],
    [
      'UTF-8 with a byte order mark',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(pod)]),
    ],
    [
      'UTF-16LE with a byte order mark',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(pod, 'utf16le')]),
    ],
    ['UTF-16BE with a byte order mark', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(pod)])],
  ])('a file in %s is read as the same Pod', (name, bytes) => {
    const read = readManifestFile(write(`${name}.yaml`, bytes));
    expect(read.problem).toBeUndefined();
    expect(read.objects.map((o) => [o.object.kind, o.line])).toEqual([['Pod', 2]]);
  });

  it('a binary file is refused as not a text file', () => {
    const read = readManifestFile(
      write('image.yaml', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 1])),
    );
    expect(read.problem).toMatchObject({
      kind: 'unparsable',
      message: 'not a text file (it holds NUL bytes)',
    });
  });

  it.skipIf(!existsSync('/dev/zero'))('an endless input stops at the size limit, refused', () => {
    const read = readManifestFile('/dev/zero');
    expect(read.problem).toMatchObject({
      kind: 'unreadable',
      message: `larger than ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB; split it into several files`,
    });
  });

  it('a UTF-16 file with a lone trailing byte ends in U+FFFD, not silently short', () => {
    expect(decodeText(Buffer.from([0xff, 0xfe, 0x61, 0x00, 0x62]))).toBe('a\uFFFD');
    expect(decodeText(Buffer.from([0xfe, 0xff, 0x00, 0x61, 0x62]))).toBe('a\uFFFD');
  });

  it('a link in a folder that leads nowhere is reported, not skipped', () => {
    const tree = mkdtempSync(join(tmpdir(), 'phi-guard-dangling-'));
    symlinkSync(join(tree, 'gone.yaml'), join(tree, 'pod.yaml'));
    const { files } = findManifestFiles([tree]);
    expect(files).toEqual([join(tree, 'pod.yaml')]);
    expect(readManifestFile(files[0]!).problem).toMatchObject({
      kind: 'unreadable',
      message: 'no such file or directory',
    });
  });

  it('a FIFO named like a manifest in a folder is not read (it would block)', () => {
    const tree = mkdtempSync(join(tmpdir(), 'phi-guard-fifo-'));
    writeFileSync(join(tree, 'pod.yaml'), pod);
    const made = spawnSync('mkfifo', [join(tree, 'pipe.yaml')]);
    expect(made.status, 'mkfifo is part of coreutils').toBe(0);
    expect(findManifestFiles([tree]).files).toEqual([join(tree, 'pod.yaml')]);
  });
});

describe('offlineInput', () => {
  const cases: Array<{
    name: string;
    object: Record<string, unknown>;
    namespace?: string;
    expected: object;
  }> = [
    {
      name: 'Deployment naming its namespace',
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: 'clinic' },
      },
      expected: {
        group: 'apps',
        version: 'v1',
        resource: 'deployments',
        namespace: 'clinic',
        name: 'web',
      },
    },
    {
      name: 'Pod naming no namespace',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } },
      expected: { group: '', version: 'v1', resource: 'pods', namespace: 'default' },
    },
    {
      name: 'Pod naming no namespace with --namespace records',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } },
      namespace: 'records',
      expected: { namespace: 'records' },
    },
    {
      name: 'StorageClass (cluster-scoped) even with a stray namespace',
      object: {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'enc', namespace: 'x' },
      },
      expected: { namespace: '', resource: 'storageclasses', group: 'storage.k8s.io' },
    },
    {
      name: 'ClusterIssuer (cert-manager, cluster-scoped)',
      object: { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'ca' } },
      expected: { namespace: '' },
    },
    {
      name: 'Job with generateName only',
      object: { apiVersion: 'batch/v1', kind: 'Job', metadata: { generateName: 'migrate-' } },
      expected: { name: 'migrate-*' },
    },
    {
      name: 'NetworkPolicy with a malformed metadata',
      object: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: 'oops' },
      expected: { resource: 'networkpolicies', namespace: 'default', name: '' },
    },
  ];

  it.each(cases)('$name', ({ object, namespace, expected }) => {
    const input = offlineInput(object, { namespace });
    expect(input).toMatchObject({
      operation: 'CREATE',
      subResource: '',
      userInfo: { username: 'phi-guard-check' },
    });
    expect(input).toMatchObject(expected);
  });

  it.each([
    ['Ingress', 'ingresses'],
    ['Policy', 'policies'],
    ['Endpoints', 'endpoints'],
    ['Pod', 'pods'],
  ])('kind %s has resource %s', (kind, resource) => {
    expect(resourceOf(kind)).toBe(resource);
  });
});
