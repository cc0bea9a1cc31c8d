import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fastJsonPatch from 'fast-json-patch';
import { startTestServer, type Answer, type TestServer } from './fixtures/server.js';
import { admissionReview, patchOf, pod } from './fixtures/reviews.js';
import { DEFAULT_MAX_BODY_BYTES } from '../src/server/app.js';

// The built-in policies, over real HTTPS: malformed input must not trip any of them.
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

const STACK = /\n\s+at |\.(ts|js):\d+:\d+/;

function withRequest(fields: Record<string, unknown>) {
  const body = admissionReview(pod('web-1'));
  return { ...body, request: { ...(body.request as object), ...fields } };
}

function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < levels; i++) value = { nested: value };
  return value;
}

function podWith(spec: Record<string, unknown>) {
  const p = pod('web-1');
  return { ...p, spec: { ...p.spec, ...spec } };
}

async function expectStillServing(): Promise<void> {
  const health = await t.client.get('/healthz');
  expect(health.status).toBe(200);
}

function expectStatus(answer: Answer, code: number, message: RegExp): void {
  expect(answer.status).toBe(code);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.json).toMatchObject({ kind: 'Status', status: 'Failure', code });
  expect(answer.json.message).toMatch(message);
  expect(answer.text).not.toMatch(STACK);
}

describe.each(['/validate', '/mutate'])(
  'bad envelopes on %s get a clear 400-class answer',
  (path) => {
    it.each([
      ['body is not JSON', 'hello {', 400, /request body is not valid JSON/],
      [
        'body is truncated JSON',
        '{"apiVersion": "admission.k8s.io/v1", "kind": "Adm',
        400,
        /not valid JSON/,
      ],
      ['body is empty', '', 400, /request body is empty/],
      ['body is the number 42', '42', 400, /expected a JSON object/],
      ['body is a list', '[1, 2]', 400, /expected a JSON object/],
      [
        'JSON is not an AdmissionReview',
        JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: {} }),
        400,
        /kind must be "AdmissionReview", got "Pod"/,
      ],
      [
        'request is missing',
        JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
        400,
        /no request object/,
      ],
      [
        'uid is missing',
        JSON.stringify(withRequest({ uid: undefined })),
        400,
        /request.uid is missing/,
      ],
      [
        'apiVersion is unknown',
        JSON.stringify({ ...admissionReview(pod('p')), apiVersion: 'admission.k8s.io/v2' }),
        400,
        /apiVersion "admission.k8s.io\/v2" is not served/,
      ],
    ])('%s', async (_state, body, code, message) => {
      expectStatus(await t.client.post(path, body), code, message);
      await expectStillServing();
    });

    it('content-type text/plain gets 415', async () => {
      const answer = await t.client.post(path, JSON.stringify(admissionReview(pod('p'))), {
        'content-type': 'text/plain',
      });
      expectStatus(answer, 415, /content-type must be application\/json/);
      await expectStillServing();
    });
  },
);

describe.each(['/validate', '/mutate'])(
  'bad objects on %s get a well-formed AdmissionReview',
  (path) => {
    it.each([
      ['object is a string', withRequest({ uid: 'u-1', object: 'kind: Pod' }), false],
      ['object is a list', withRequest({ uid: 'u-1', object: [pod('p')] }), false],
      ['operation is unknown', withRequest({ uid: 'u-1', operation: 'PATCH' }), false],
      [
        'containers is a string',
        admissionReview(podWith({ containers: 'nginx' }), { uid: 'u-1' }),
        undefined,
      ],
      [
        'containers is an object',
        admissionReview(podWith({ containers: { name: 'app' } }), { uid: 'u-1' }),
        undefined,
      ],
      [
        'containers hold null and a number',
        admissionReview(podWith({ containers: [null, 3] }), { uid: 'u-1' }),
        undefined,
      ],
      [
        'securityContext is a list',
        admissionReview(podWith({ securityContext: [] }), { uid: 'u-1' }),
        undefined,
      ],
      [
        'metadata is a string',
        admissionReview({ ...pod('p'), metadata: 'x' }, { uid: 'u-1', namespace: 'team-a' }),
        undefined,
      ],
      [
        'spec is 100 levels deep',
        admissionReview(podWith({ extra: deep(100) }), { uid: 'u-1' }),
        undefined,
      ],
      [
        'a container is 100 levels deep',
        admissionReview(podWith({ containers: [{ name: 'a', image: 'x:1', env: deep(100) }] }), {
          uid: 'u-1',
        }),
        undefined,
      ],
    ])('%s', async (_state, body, allowed) => {
      const answer = await t.client.post(path, body);
      expect(answer.status).toBe(200);
      expect(answer.text).not.toMatch(STACK);
      expect(answer.json).toMatchObject({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: 'u-1' },
      });
      expect(typeof answer.json.response.allowed).toBe('boolean');
      if (allowed !== undefined) expect(answer.json.response.allowed).toBe(allowed);
      if (answer.json.response.allowed === false)
        expect(answer.json.response.status.message).toEqual(expect.any(String));
      if (answer.json.response.patch) {
        const object = (body.request as { object: unknown }).object;
        expect(() =>
          fastJsonPatch.applyPatch(
            structuredClone(object),
            patchOf(answer.json.response) as never,
            true,
          ),
        ).not.toThrow();
      }
      await expectStillServing();
    });
  },
);

describe.each(['/validate', '/mutate'])('objects nested beyond the engine on %s', (path) => {
  // Built as text: JSON.stringify itself overflows the stack at such depths.
  it.each([5_000, 10_000, 100_000])('%i levels: refused in kind with code 400', async (levels) => {
    const body = JSON.stringify(admissionReview(podWith({ extra: '__DEEP__' }), { uid: 'deep-1' }));
    const answer = await t.client.post(
      path,
      body.replace('"__DEEP__"', `${'{"n":'.repeat(levels)}1${'}'.repeat(levels)}`),
    );
    expect(answer.status).toBe(200);
    expect(answer.json.response).toMatchObject({
      uid: 'deep-1',
      allowed: false,
      status: { code: 400 },
    });
    expect(answer.json.response.status.message).toMatch(
      /request.object is nested deeper than 1000 levels/,
    );
    await expectStillServing();
  });
});

describe('body size', () => {
  // A ConfigMap of about `bytes` bytes of data.
  function bigConfigMap(bytes: number) {
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'big', namespace: 'team-a' },
      data: { blob: 'x'.repeat(bytes) },
    };
  }

  it('an UPDATE of a 3 MiB object (object and oldObject) is answered', async () => {
    const object = bigConfigMap(3 * 1024 * 1024);
    const answer = await t.client.post(
      '/validate',
      admissionReview(object, { operation: 'UPDATE', oldObject: object, uid: 'big-1' }),
    );
    expect(answer.status).toBe(200);
    expect(answer.json.response.uid).toBe('big-1');
  });

  it('a body over the limit gets 413 and the server keeps serving', async () => {
    const object = bigConfigMap(DEFAULT_MAX_BODY_BYTES / 2 + 1024);
    const answer = await t.client.post(
      '/validate',
      admissionReview(object, { operation: 'UPDATE', oldObject: object }),
    );
    expectStatus(answer, 413, new RegExp(`exceeds the limit of ${DEFAULT_MAX_BODY_BYTES} bytes`));
    await expectStillServing();
    const after = await t.client.post('/validate', admissionReview(pod('p'), { uid: 'after-413' }));
    expect(after.json.response.uid).toBe('after-413');
  });
});
