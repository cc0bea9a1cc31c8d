import { describe, expect, it } from 'vitest';
import request from 'supertest';
import fastJsonPatch from 'fast-json-patch';
import { configMap, labelPolicy, throwingPolicy } from './fixtures/test-policies.js';
import { logCapture, testApp, sample } from './fixtures/server.js';
import { createAdmissionApp } from '../src/server/app.js';
import { Readiness } from '../src/server/readiness.js';
import { createLogger } from '../src/logging/logger.js';
import { createMetrics } from '../src/metrics/metrics.js';
import {
  admissionReview,
  execPolicy,
  patchOf,
  pod,
  type ReviewOptions,
} from './fixtures/reviews.js';
import type { KubeObject } from '../src/engine/policy.js';
import { builtinPolicies } from './fixtures/admission.js';

const POLICIES = [labelPolicy, throwingPolicy, execPolicy];
const bad = configMap('settings', 'team-a', { bad: 'true' });
const good = configMap('settings', 'team-a', {});
const touched = configMap('settings', 'team-a', { touched: 'yes' });
const secret = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 's', namespace: 'team-a' },
  data: { k: 'aHVudGVyMg==' },
};
const widget = {
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: { name: 'w', namespace: 'team-a' },
};
const clusterRole = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name: 'reader', labels: { bad: 'true' } },
};
const execOptions = (command: string) => ({
  apiVersion: 'v1',
  kind: 'PodExecOptions',
  command: [command],
  container: 'app',
});
const EXEC: ReviewOptions = {
  operation: 'CONNECT',
  kind: { group: '', version: 'v1', kind: 'PodExecOptions' },
  resource: 'pods',
  subResource: 'exec',
  name: 'web-1',
  namespace: 'team-a',
};
const BREAK_GLASS = { username: 'oncall', groups: ['break-glass', 'system:authenticated'] };

async function post(app: ReturnType<typeof testApp>, path: string, body: unknown) {
  const res = await request(app.app)
    .post(path)
    .set('content-type', 'application/json')
    .send(JSON.stringify(body));
  return res;
}

describe('routing', () => {
  const t = testApp(POLICIES);
  it.each([
    ['GET /healthz', 'get', '/healthz', 200],
    ['GET /readyz when ready', 'get', '/readyz', 200],
    ['GET /mutate', 'get', '/mutate', 405],
    ['PUT /validate', 'put', '/validate', 405],
    ['GET /unknown', 'get', '/unknown', 404],
    ['POST /metrics on the webhook port', 'post', '/metrics', 404],
  ] as const)('%s answers %i', async (_name, method, path, status) => {
    const res = await request(t.app)[method](path);
    expect(res.status).toBe(status);
    expect(res.text).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it('readyz is 503 naming what it waits for, then 200', async () => {
    t.readiness.wait('namespace-cache');
    const waiting = await request(t.app).get('/readyz');
    expect(waiting.status).toBe(503);
    expect(waiting.body.waitingFor).toEqual(['namespace-cache']);
    t.readiness.done('namespace-cache');
    expect((await request(t.app).get('/readyz')).status).toBe(200);
  });

  it.each([
    ['text/plain', 'text/plain', 415],
    ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 415],
    ['application/json; charset=utf-8', 'application/json; charset=utf-8', 200],
    ['application/json; charset=latin1', 'application/json; charset=latin1', 415],
  ])('content-type %s answers %i', async (_name, type, status) => {
    const res = await request(t.app)
      .post('/validate')
      .set('content-type', type)
      .send(JSON.stringify(admissionReview(good)));
    expect(res.status).toBe(status);
    if (status !== 200)
      expect(res.body).toMatchObject({
        kind: 'Status',
        code: status,
        reason: 'UnsupportedMediaType',
      });
  });
});

describe('admission answers', () => {
  it('validate denies with 403, the engine message and the uid echoed', async () => {
    const t = testApp(POLICIES);
    const body = admissionReview(bad, { uid: 'uid-1' });
    const res = await post(t, '/validate', body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: 'uid-1',
        allowed: false,
        status: {
          status: 'Failure',
          code: 403,
          reason: 'Forbidden',
          message:
            '[label-check] ConfigMap team-a/settings: metadata.labels.bad: label bad is "true"; remove the bad label',
        },
        auditAnnotations: { decision: 'denied', 'denied-by': 'label-check' },
      },
    });
  });

  it.each(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'])(
    '%s is answered in kind',
    async (apiVersion) => {
      const t = testApp(POLICIES);
      const res = await post(t, '/mutate', admissionReview(good, { apiVersion }));
      expect(res.body.apiVersion).toBe(apiVersion);
      expect(res.body.kind).toBe('AdmissionReview');
    },
  );

  it('mutate patches with base64 JSONPatch that applies to the object sent', async () => {
    const t = testApp(POLICIES);
    const res = await post(t, '/mutate', admissionReview(good));
    expect(res.body.response).toMatchObject({
      allowed: true,
      patchType: 'JSONPatch',
      auditAnnotations: { decision: 'mutated', 'patched-by': 'label-check' },
    });
    const patched = fastJsonPatch.applyPatch(
      structuredClone(good),
      patchOf(res.body.response) as never,
      true,
    ).newDocument as KubeObject;
    expect(patched.metadata).toMatchObject({ labels: { touched: 'yes' } });
  });

  it.each([
    ['object already carries the default (no-op)', admissionReview(touched)],
    ['DELETE', admissionReview(undefined, { operation: 'DELETE', oldObject: good })],
    ['CONNECT', admissionReview(execOptions('ls'), EXEC)],
    ['namespace excluded by default (kube-system)', admissionReview(configMap('c', 'kube-system'))],
    [
      'status subresource',
      admissionReview(good, { operation: 'UPDATE', subResource: 'status', oldObject: good }),
    ],
    ['unknown kind', admissionReview(widget)],
  ])('mutate sends no patch and no patchType: %s', async (_state, body) => {
    const t = testApp(POLICIES);
    const res = await post(t, '/mutate', body);
    expect(res.body.response.allowed).toBe(true);
    expect(res.body.response).not.toHaveProperty('patch');
    expect(res.body.response).not.toHaveProperty('patchType');
    expect(res.body.response.auditAnnotations.decision).toBe('allowed');
  });

  const badPod = {
    ...pod('p'),
    metadata: { name: 'p', namespace: 'team-a', labels: { bad: 'true' } },
  };
  it.each([
    [
      'status subresource adding a violation to a Pod',
      true,
      badPod,
      { operation: 'UPDATE', subResource: 'status', oldObject: pod('p') },
    ],
    [
      'main resource adding a violation to a Pod',
      false,
      badPod,
      { operation: 'UPDATE', oldObject: pod('p') },
    ],
    ['unknown kind', true, widget, {}],
    ['cluster-scoped object no policy matches', true, clusterRole, {}],
    ['DELETE of a violating ConfigMap', true, undefined, { operation: 'DELETE', oldObject: bad }],
    [
      'UPDATE keeping a violation the old object had',
      true,
      bad,
      { operation: 'UPDATE', oldObject: bad },
    ],
    ['UPDATE adding a violation', false, bad, { operation: 'UPDATE', oldObject: good }],
    ['exec of a shell', false, execOptions('sh'), EXEC],
    ['exec of ls', true, execOptions('ls'), EXEC],
    ['exec of a shell by break-glass', true, execOptions('sh'), { ...EXEC, userInfo: BREAK_GLASS }],
  ] as const)('validate: %s → allowed %s', async (_state, allowed, object, options) => {
    const t = testApp(POLICIES);
    const res = await post(t, '/validate', admissionReview(object, options as ReviewOptions));
    expect(res.status).toBe(200);
    expect(res.body.response.allowed).toBe(allowed);
    expect(res.body.response.auditAnnotations.decision).toEqual(
      allowed ? expect.stringMatching(/allowed|warned/) : 'denied',
    );
  });

  it('warn mode answers allowed with warnings', async () => {
    const t = testApp(POLICIES, { policies: { 'label-check': { mode: 'warn' } } });
    const res = await post(t, '/validate', admissionReview(bad));
    expect(res.body.response).toMatchObject({
      allowed: true,
      auditAnnotations: { decision: 'warned', 'warned-by': 'label-check' },
    });
    expect(res.body.response.warnings).toEqual([
      expect.stringMatching(/^\[label-check\] ConfigMap team-a\/settings: .*warn mode/),
    ]);
  });

  it('a policy that throws gives a well-formed denial without its error text', async () => {
    const t = testApp(POLICIES);
    const res = await post(t, '/validate', admissionReview(secret));
    expect(res.status).toBe(200);
    expect(res.body.response).toMatchObject({ allowed: false, status: { code: 403 } });
    expect(res.body.response.status.message).toMatch(
      /^\[throws\] Secret team-a\/s: the policy could not evaluate/,
    );
    expect(JSON.stringify(res.body) + t.rawLogs.join('')).not.toContain('hunter2');
  });
});

describe('decision log', () => {
  const MARKER = 'marker-7f3a9c-do-not-log';
  const marked = {
    ...configMap('settings', 'team-a', { bad: 'true' }),
    data: { 'database.url': `postgres://user:${MARKER}@db` },
    metadata: {
      name: 'settings',
      namespace: 'team-a',
      labels: { bad: 'true' },
      annotations: { note: MARKER },
    },
  };

  it('one line per decision with the record fields and no object content', async () => {
    const t = testApp(POLICIES);
    await post(t, '/validate', admissionReview(marked, { uid: 'log-1', dryRun: true }));
    await post(t, '/mutate', admissionReview(marked, { uid: 'log-2' }));

    const decisions = t.logs.filter((l) => l.msg === 'admission decision');
    expect(decisions).toHaveLength(2);
    expect(decisions[0]).toMatchObject({
      level: 'info',
      uid: 'log-1',
      webhook: 'validate',
      operation: 'CREATE',
      kind: 'ConfigMap',
      namespace: 'team-a',
      name: 'settings',
      user: 'alice',
      groups: ['system:authenticated'],
      dryRun: true,
      decision: 'denied',
      violations: [
        {
          policy: 'label-check',
          mode: 'enforce',
          outcome: 'denied',
          reason: 'bad-label',
          path: 'metadata.labels.bad',
          message: 'label bad is "true"',
        },
      ],
      patched: [],
      exceptions: [],
      expiredExceptions: [],
    });
    expect(typeof decisions[0]!.time).toBe('string');
    expect(typeof decisions[0]!.durationMs).toBe('number');
    expect(decisions[1]).toMatchObject({
      uid: 'log-2',
      webhook: 'mutate',
      decision: 'mutated',
      patched: ['/metadata/labels/touched'],
    });
    expect(t.rawLogs.join('')).not.toContain(MARKER);
  });

  it('an excepted finding names its exception; an expired one is listed as expired', async () => {
    const t = testApp(POLICIES, {
      exceptions: [
        {
          name: 'legacy',
          policies: ['label-check'],
          namespace: 'team-a',
          reason: 'ticket 1',
          expires: '2999-01-01',
        },
        {
          name: 'old',
          policies: ['label-check'],
          namespace: 'team-*',
          reason: 'ticket 0',
          expires: '2001-01-01',
        },
      ],
    });
    const res = await post(t, '/validate', admissionReview(bad));
    expect(res.body.response.allowed).toBe(true);
    const line = t.logs.find((l) => l.msg === 'admission decision');
    expect(line).toMatchObject({
      exceptions: ['legacy'],
      expiredExceptions: ['old'],
      violations: [{ outcome: 'excepted', exception: 'legacy' }],
    });
  });

  it.each([
    ['a real exec', 1, 1, false],
    ['a dry-run exec', 0, 0, true],
  ])(
    'break-glass notice on %s: %i warn lines, counted %i times',
    async (_state, warnLines, counted, dryRun) => {
      const t = testApp(POLICIES);
      const res = await post(
        t,
        '/validate',
        admissionReview(execOptions('sh'), { ...EXEC, userInfo: BREAK_GLASS, dryRun }),
      );
      expect(res.body.response.auditAnnotations).toMatchObject({ 'break-glass': 'exec' });
      const notices = t.logs.filter((l) => l.msg === 'admission notice');
      expect(notices).toHaveLength(warnLines);
      if (warnLines) {
        expect(notices[0]).toMatchObject({
          level: 'warn',
          policy: 'exec-check',
          reason: 'break-glass',
          user: 'oncall',
          uid: expect.any(String),
        });
      }
      const text = await t.metrics.registry.metrics();
      expect(
        sample(text, 'phi_guard_policy_notices_total', {
          policy: 'exec-check',
          result: 'break-glass',
        }),
      ).toBe(counted);
      expect(t.logs.find((l) => l.msg === 'admission decision')).toMatchObject({
        dryRun,
        notices: [{ policy: 'exec-check', reason: 'break-glass' }],
      });
    },
  );
});

describe('metrics', () => {
  it('counts requests, durations and policy results with bounded labels', async () => {
    const t = testApp(POLICIES);
    await post(t, '/validate', admissionReview(bad));
    await post(t, '/validate', admissionReview(good));
    await post(t, '/mutate', admissionReview(good));
    await post(t, '/validate', admissionReview(widget));
    await post(t, '/validate', {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {},
    });

    const text = await t.metrics.registry.metrics();
    const requests = 'phi_guard_admission_requests_total';
    expect(
      sample(text, requests, {
        webhook: 'validate',
        operation: 'CREATE',
        kind: 'ConfigMap',
        decision: 'denied',
      }),
    ).toBe(1);
    expect(
      sample(text, requests, {
        webhook: 'validate',
        operation: 'CREATE',
        kind: 'ConfigMap',
        decision: 'allowed',
      }),
    ).toBe(1);
    expect(
      sample(text, requests, {
        webhook: 'mutate',
        operation: 'CREATE',
        kind: 'ConfigMap',
        decision: 'mutated',
      }),
    ).toBe(1);
    expect(
      sample(text, requests, { webhook: 'validate', kind: 'other', decision: 'allowed' }),
    ).toBe(1);
    expect(sample(text, requests, { webhook: 'validate', decision: 'invalid' })).toBe(1);
    expect(
      sample(text, 'phi_guard_admission_duration_seconds_count', { webhook: 'validate' }),
    ).toBe(3);
    const results = 'phi_guard_policy_results_total';
    expect(
      sample(text, results, { policy: 'label-check', mode: 'enforce', result: 'denied' }),
    ).toBe(1);
    expect(
      sample(text, results, { policy: 'label-check', mode: 'enforce', result: 'passed' }),
    ).toBe(1);
    expect(
      sample(text, results, { policy: 'label-check', mode: 'enforce', result: 'patched' }),
    ).toBe(1);
    expect(text).not.toContain('Widget');
    expect(text).not.toContain('team-a');
    expect(text).not.toContain('alice');
    for (const name of [
      'phi_guard_admission_requests_total',
      'phi_guard_policy_results_total',
      'phi_guard_config_reloads_total',
      'phi_guard_tls_certificate_expiry_timestamp_seconds',
    ]) {
      expect(text).toMatch(new RegExp(`# HELP ${name} \\S`));
    }
  });
});

describe('error log', () => {
  it('an unexpected error is a bare 500, logged without the data libraries attach to errors', async () => {
    const capture = logCapture();
    const failing = Object.assign(new Error('patch failed', { cause: new Error('inner') }), {
      tree: { data: { password: 'marker-9d2e-do-not-log' } },
    });
    const app = createAdmissionApp({
      engine: () => {
        throw failing;
      },
      logger: createLogger({ destination: capture.destination }),
      metrics: createMetrics({ knownKinds: [], defaultMetrics: false }),
      readiness: new Readiness(),
    });
    const res = await request(app)
      .post('/validate')
      .set('content-type', 'application/json')
      .send(JSON.stringify(admissionReview(good, { uid: 'boom-1' })));

    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      apiVersion: 'v1',
      kind: 'Status',
      status: 'Failure',
      code: 500,
      reason: 'InternalError',
      message: 'internal error',
    });
    const line = capture.lines.find((l) => l.msg === 'unexpected error while answering a request');
    expect(line).toMatchObject({
      level: 'error',
      uid: 'boom-1',
      err: { type: 'Error', message: 'patch failed', cause: { message: 'inner' } },
    });
    expect(capture.raw.join('')).not.toContain('marker-9d2e-do-not-log');
  });
});

describe('kubectl debug: UPDATE of pods/ephemeralcontainers with the built-in policies', () => {
  const base = pod('web-1', 'team-a', { secure: true });
  const debuggerContainer = {
    name: 'debugger',
    image: 'registry.k8s.io/e2e-test-images/busybox:1.36.1-1',
  };
  const withDebugger = {
    ...base,
    spec: { ...base.spec, ephemeralContainers: [debuggerContainer] },
  };
  const options: ReviewOptions = {
    operation: 'UPDATE',
    subResource: 'ephemeralcontainers',
    oldObject: base,
  };

  it('mutate patches only the new ephemeral container; validate admits the patched pod', async () => {
    const t = testApp(await builtinPolicies());
    const mutate = await post(t, '/mutate', admissionReview(withDebugger, options));
    const ops = patchOf(mutate.body.response);
    expect(ops.length).toBeGreaterThan(0);
    expect(ops.every((op) => op.path.startsWith('/spec/ephemeralContainers/0'))).toBe(true);

    const patched = fastJsonPatch.applyPatch(
      structuredClone(withDebugger),
      ops as never,
      true,
    ).newDocument;
    const validate = await post(t, '/validate', admissionReview(patched, options));
    expect(validate.body.response).toMatchObject({ allowed: true });
    const unpatched = await post(t, '/validate', admissionReview(withDebugger, options));
    expect(unpatched.body.response.allowed).toBe(false);
  });

  it('validate denies a privileged debug container, naming the ephemeral container', async () => {
    const t = testApp(await builtinPolicies());
    const privileged = { ...debuggerContainer, securityContext: { privileged: true } };
    const object = { ...base, spec: { ...base.spec, ephemeralContainers: [privileged] } };
    const validate = await post(t, '/validate', admissionReview(object, options));
    expect(validate.body.response.allowed).toBe(false);
    expect(validate.body.response.status.message).toMatch(
      /\[pod-security\] Pod team-a\/web-1: spec\.ephemeralContainers\[0\]\.securityContext\.privileged/,
    );
  });
});
