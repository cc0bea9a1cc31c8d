import { describe, expect, it } from 'vitest';
import { decodeEnvelope, decodeRequest } from '../src/admission/review.js';
import { HttpError } from '../src/server/http-error.js';
import { admissionReview, pod } from './fixtures/reviews.js';

const podObject = pod('web-1');

describe('decodeEnvelope', () => {
  it.each([
    ['body is a list', [], /expected a JSON object/],
    ['body is a string', 'AdmissionReview', /expected a JSON object/],
    [
      'kind is missing',
      { apiVersion: 'admission.k8s.io/v1', request: { uid: 'u' } },
      /kind must be "AdmissionReview", got nothing/,
    ],
    ['kind is Pod', { ...admissionReview(podObject), kind: 'Pod' }, /got "Pod"/],
    [
      'apiVersion is admission.k8s.io/v2',
      { ...admissionReview(podObject), apiVersion: 'admission.k8s.io/v2' },
      /"admission.k8s.io\/v2" is not served/,
    ],
    [
      'request is missing',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' },
      /no request object/,
    ],
    [
      'request is a list',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: [] },
      /no request object/,
    ],
    [
      'uid is missing',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} },
      /request.uid is missing/,
    ],
    [
      'uid is empty',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } },
      /request.uid is missing/,
    ],
    [
      'uid is a number',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 7 } },
      /request.uid must be a string, got a number/,
    ],
  ])('%s: 400 naming the problem', (_state, body, message) => {
    let error: unknown;
    try {
      decodeEnvelope(body);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
    expect((error as HttpError).message).toMatch(message);
  });

  it.each(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'])(
    'apiVersion %s is accepted',
    (apiVersion) => {
      const envelope = decodeEnvelope(admissionReview(podObject, { apiVersion, uid: 'abc' }));
      expect(envelope).toMatchObject({ apiVersion, uid: 'abc' });
    },
  );
});

function decode(body: Record<string, unknown>) {
  return decodeRequest(decodeEnvelope(body));
}

function withRequest(body: Record<string, unknown>, fields: Record<string, unknown>) {
  return { ...body, request: { ...(body.request as object), ...fields } };
}

describe('decodeRequest: mapping into the engine input', () => {
  it('CREATE of a Pod maps kind, resource, namespace, name, user and dryRun', () => {
    const decoded = decode(admissionReview(podObject, { dryRun: true }));
    expect(decoded.ok && decoded.input).toMatchObject({
      operation: 'CREATE',
      kind: 'Pod',
      group: '',
      version: 'v1',
      resource: 'pods',
      subResource: '',
      namespace: 'team-a',
      name: 'web-1',
      object: podObject,
      oldObject: undefined,
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      dryRun: true,
    });
  });

  it.each([
    [
      'object has a name',
      { metadata: { name: 'a', generateName: 'g-' } },
      'CREATE',
      undefined,
      'req',
      'a',
    ],
    [
      'object has only generateName',
      { metadata: { generateName: 'web-' } },
      'CREATE',
      undefined,
      '',
      'web-*',
    ],
    ['object has no metadata', {}, 'CREATE', undefined, 'from-url', 'from-url'],
    ['DELETE reads the old object', null, 'DELETE', { metadata: { name: 'old' } }, 'url', 'old'],
    ['metadata is a string', { metadata: 'x' }, 'CREATE', undefined, 'url', 'url'],
  ] as const)('name when %s', (_state, object, operation, oldObject, requestName, expected) => {
    const body = admissionReview(object ?? undefined, {
      operation,
      oldObject,
      name: requestName,
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
    });
    const decoded = decode(body);
    expect(decoded.ok && decoded.input.name).toBe(expected);
  });

  it('DELETE has no object and the old object', () => {
    const decoded = decode(
      admissionReview(undefined, { operation: 'DELETE', oldObject: podObject }),
    );
    expect(decoded.ok && decoded.input.object).toBeUndefined();
    expect(decoded.ok && decoded.input.oldObject).toEqual(podObject);
  });

  it('CONNECT moves the connect options from object to options', () => {
    const execOptions = {
      kind: 'PodExecOptions',
      apiVersion: 'v1',
      command: ['sh'],
      container: 'app',
    };
    const body = admissionReview(execOptions, {
      operation: 'CONNECT',
      kind: { group: '', version: 'v1', kind: 'PodExecOptions' },
      resource: 'pods',
      subResource: 'exec',
      name: 'web-1',
      namespace: 'team-a',
    });
    const decoded = decode(body);
    expect(decoded.ok && decoded.input).toMatchObject({
      operation: 'CONNECT',
      object: undefined,
      options: execOptions,
      subResource: 'exec',
      name: 'web-1',
    });
  });

  it('cluster-scoped object has namespace ""', () => {
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'r' },
    };
    const decoded = decode(admissionReview(role));
    expect(decoded.ok && decoded.input).toMatchObject({
      namespace: '',
      kind: 'ClusterRole',
      group: 'rbac.authorization.k8s.io',
    });
  });

  it('request without userInfo gets an empty identity', () => {
    const decoded = decode(withRequest(admissionReview(podObject), { userInfo: undefined }));
    expect(decoded.ok && decoded.input.userInfo).toEqual({ username: '', groups: [] });
  });
});

function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) value = { n: value };
  return value;
}

describe('decodeRequest: nesting depth', () => {
  it.each([
    ['object nested 1000 levels', 'object', 1000, true],
    ['object nested 1001 levels', 'object', 1001, false],
    ['oldObject nested 1001 levels', 'oldObject', 1001, false],
    ['options nested 1001 levels', 'options', 1001, false],
  ])('%s', (_state, field, levels, ok) => {
    const decoded = decode(withRequest(admissionReview(podObject), { [field]: nested(levels) }));
    expect(decoded.ok).toBe(ok);
    if (!ok)
      expect(!decoded.ok && decoded.problem).toBe(
        `request.${field} is nested deeper than 1000 levels`,
      );
  });
});

describe('decodeRequest: unusable fields are named', () => {
  const base = admissionReview(podObject);
  it.each([
    ['operation is PATCH', { operation: 'PATCH' }, /request.operation "PATCH" is not one of/],
    ['operation is missing', { operation: undefined }, /request.operation nothing/],
    ['kind is missing', { kind: undefined }, /request.kind.kind is missing/],
    ['object is null on CREATE', { object: null }, /request.object is missing: the API server/],
    [
      'object is a string',
      { object: 'apiVersion: v1' },
      /request.object must be a JSON object or null, got a string/,
    ],
    [
      'object is a list',
      { object: [podObject] },
      /request.object must be a JSON object or null, got a list/,
    ],
    [
      'oldObject is a number',
      { oldObject: 3 },
      /request.oldObject must be a JSON object or null, got a number/,
    ],
    [
      'request.kind says Pod, the object is a Deployment',
      { object: { ...podObject, apiVersion: 'apps/v1', kind: 'Deployment' } },
      /request.object.kind "Deployment" does not match request.kind.kind "Pod"/,
    ],
    [
      'request.kind says Pod, the old object is a Secret',
      { operation: 'UPDATE', oldObject: { ...podObject, kind: 'Secret' } },
      /request.oldObject.kind "Secret" does not match request.kind.kind "Pod"/,
    ],
    ['namespace is a number', { namespace: 1 }, /request.namespace must be a string/],
    ['dryRun is "yes"', { dryRun: 'yes' }, /request.dryRun must be a boolean/],
    ['userInfo is a string', { userInfo: 'alice' }, /request.userInfo must be an object/],
    [
      'groups hold a number',
      { userInfo: { username: 'a', groups: ['g', 1] } },
      /groups must be a list of strings/,
    ],
  ])('%s', (_state, fields, problem) => {
    const decoded = decode(withRequest(base, fields));
    expect(decoded.ok).toBe(false);
    expect(!decoded.ok && decoded.problem).toMatch(problem);
  });
});
