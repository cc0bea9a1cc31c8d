import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatImageRef, parseImageRef, type ImageRef } from '../src/engine/image-ref.js';

const SHA256 = 'sha256:' + 'a'.repeat(64);
const SHA512 = 'sha512:' + '0123456789abcdef'.repeat(8);

// Expected results follow github.com/distribution/reference (ParseNormalizedNamed) and what
// `docker pull` does with the same strings.
const valid: Array<[string, string, ImageRef]> = [
  ['bare Docker Hub name', 'nginx', { registry: 'docker.io', repository: 'library/nginx' }],
  [
    'Docker Hub name with tag',
    'nginx:1.27',
    { registry: 'docker.io', repository: 'library/nginx', tag: '1.27' },
  ],
  [
    'Docker Hub user repository',
    'bitnami/redis:7',
    { registry: 'docker.io', repository: 'bitnami/redis', tag: '7' },
  ],
  ['explicit docker.io', 'docker.io/nginx', { registry: 'docker.io', repository: 'library/nginx' }],
  [
    'legacy index.docker.io',
    'index.docker.io/library/nginx',
    { registry: 'docker.io', repository: 'library/nginx' },
  ],
  [
    'registry with dots',
    'registry.k8s.io/pause:3.10',
    { registry: 'registry.k8s.io', repository: 'pause', tag: '3.10' },
  ],
  [
    'registry with port and tag',
    'localhost:5000/app:v1',
    { registry: 'localhost:5000', repository: 'app', tag: 'v1' },
  ],
  ['localhost without port', 'localhost/app', { registry: 'localhost', repository: 'app' }],
  [
    'host with port, no dot',
    'myregistry:5000/team/app',
    { registry: 'myregistry:5000', repository: 'team/app' },
  ],
  [
    'IPv6 registry with port',
    '[::1]:5000/app:v2',
    { registry: '[::1]:5000', repository: 'app', tag: 'v2' },
  ],
  ['IPv4 registry', '10.0.0.1:5000/app', { registry: '10.0.0.1:5000', repository: 'app' }],
  [
    'digest only',
    `ghcr.io/acme/api@${SHA256}`,
    { registry: 'ghcr.io', repository: 'acme/api', digest: SHA256 },
  ],
  [
    'tag and digest',
    `ghcr.io/acme/api:1.0@${SHA256}`,
    { registry: 'ghcr.io', repository: 'acme/api', tag: '1.0', digest: SHA256 },
  ],
  [
    'sha512 digest',
    `quay.io/a/b@${SHA512}`,
    { registry: 'quay.io', repository: 'a/b', digest: SHA512 },
  ],
  [
    'upper-case registry is lower-cased',
    'GHCR.IO/acme/api',
    { registry: 'ghcr.io', repository: 'acme/api' },
  ],
  ['upper-case first component is a registry', 'Acme/api', { registry: 'acme', repository: 'api' }],
  [
    'separators in path',
    'a.b/c__d/e-f/g.h_i---j',
    { registry: 'a.b', repository: 'c__d/e-f/g.h_i---j' },
  ],
  [
    'deep ECR path',
    '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/svc:2024.1',
    {
      registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
      repository: 'team/svc',
      tag: '2024.1',
    },
  ],
  [
    'a name that only looks like a port is a tag',
    'localhost:5000',
    { registry: 'docker.io', repository: 'library/localhost', tag: '5000' },
  ],
  [
    'tag of 128 characters',
    `app:${'t'.repeat(128)}`,
    { registry: 'docker.io', repository: 'library/app', tag: 't'.repeat(128) },
  ],
];

const invalid: Array<[string, string, string]> = [
  ['empty string', '', 'empty'],
  ['upper-case repository', 'docker.io/Library/Nginx', 'must be lower-case'],
  ['upper-case single name', 'NGINX', 'must be lower-case'],
  ['image ID instead of reference', 'a'.repeat(64), 'image ID'],
  ['empty tag', 'nginx:', 'tag "" is not valid'],
  ['tag starting with a dot', 'nginx:.hidden', 'is not valid'],
  ['tag of 129 characters', `app:${'t'.repeat(129)}`, 'is not valid'],
  [
    'unsupported digest algorithm',
    `nginx@md5:${'a'.repeat(32)}`,
    'algorithm "md5" is not supported',
  ],
  ['short sha256 digest', `nginx@sha256:${'a'.repeat(63)}`, '64 lower-case hex digits'],
  ['upper-case digest hex', `nginx@sha256:${'A'.repeat(64)}`, 'lower-case hex'],
  ['digest without algorithm', `nginx@${'a'.repeat(64)}`, 'not of the form'],
  ['empty path component', 'ghcr.io/acme//api', 'path component ""'],
  ['trailing separator', 'ghcr.io/acme/api-', 'path component "api-"'],
  ['registry without path', 'ghcr.io/', 'no repository path'],
  ['registry with bad port', 'ghcr.io:http/app', 'not a host name'],
  ['registry label ending with a dash', 'bad-.io/app', 'not a host name'],
  ['whitespace in name', 'ngi nx', 'path component'],
  ['unrendered placeholder as repository', '${APP_IMAGE}', 'placeholder?'],
  [
    'unrendered placeholder as tag',
    'openemr/openemr:${VERSION}',
    'tag "${VERSION}" is not valid (an unrendered',
  ],
  [
    'angle-bracket placeholder as registry path',
    '<your-registry>/api',
    'component "<your-registry>"',
  ],
  ['two @ signs', `a@${SHA256}@x`, 'not of the form'],
  ['name over 255 characters', `r.io/${'a'.repeat(251)}`, 'longer than 255'],
];

describe('parseImageRef: valid references', () => {
  it.each(valid)('%s (%s)', (_name, text, expected) => {
    const result = parseImageRef(text);
    expect(result).toEqual({ ok: true, ref: expected });
  });
});

describe('parseImageRef: invalid references say why', () => {
  it.each(invalid)('%s', (_name, text, why) => {
    const result = parseImageRef(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(why);
  });
});

describe('parseImageRef: properties', () => {
  const component = fc.stringMatching(/^[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}$/);
  const host = fc.stringMatching(/^[a-z0-9]{1,10}\.[a-z]{2,5}(?::[0-9]{2,5})?$/);
  const tag = fc.stringMatching(/^\w[\w.-]{0,20}$/);
  const hex = fc.stringMatching(/^[a-f0-9]{64}$/);

  it('a formatted reference parses back to itself', () => {
    fc.assert(
      fc.property(
        host,
        fc.array(component, { minLength: 1, maxLength: 3 }),
        fc.option(tag),
        fc.option(hex),
        (h, path, t, d) => {
          const ref: ImageRef = { registry: h, repository: path.join('/') };
          if (t !== null) ref.tag = t;
          if (d !== null) ref.digest = `sha256:${d}`;
          expect(parseImageRef(formatImageRef(ref))).toEqual({ ok: true, ref });
        },
      ),
    );
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        expect(() => parseImageRef(s)).not.toThrow();
      }),
    );
  });

  it('registries are compared as hosts: a look-alike prefix is another registry', () => {
    const result = parseImageRef('ghcr.io.evil.example/acme/api:1');
    expect(result.ok && result.ref.registry).toBe('ghcr.io.evil.example');
  });
});
