/**
 * Properties of the mutating webhook over random pod specs, with every built-in policy on:
 * the patch is valid RFC 6902 against the object as sent and applies with fast-json-patch; a
 * second pass over the result adds nothing (idempotent, so GitOps controllers stay in sync);
 * nothing the object set is changed (mutation fills in, never overrides). And, pod-security
 * alone: a spec whose security fields are unset or already compliant passes validation after
 * mutation, whatever its kind, OS or container lists.
 *
 * The generators vary presence, absence and values of the security fields, null and malformed
 * values, Windows and Linux, every container list, and names and keys containing `/` and `~`
 * (the characters JSON Pointer escapes, RFC 6901 section 3).
 */
import fastJsonPatch from 'fast-json-patch';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import type { KubeObject } from '../src/engine/policy.js';
import { getIn, isRecord, type Segment } from '../src/engine/paths.js';
import { engineWith, makeInput } from './fixtures/admission.js';
import { IMAGE, objectOfKind } from './fixtures/pods.js';

const { applyPatch, deepClone, validate: validatePatch } = fastJsonPatch;

const KINDS = [
  'Pod',
  'PodTemplate',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job',
  'CronJob',
];
const RUNS = 300;

/** Names and map keys built from characters that need escaping in pointers and paths. */
const tricky = fc.string({
  unit: fc.constantFrom('a', 'b', '-', '.', '/', '~', '0', '1'),
  minLength: 1,
  maxLength: 8,
});
const orNull = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: 5, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(null) });
const malformedOr = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null | string> =>
  fc.oneof(
    { weight: 8, arbitrary: arb },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constant('restricted') },
  );

const seccompProfile = fc.record(
  {
    type: fc.constantFrom('RuntimeDefault', 'Localhost', 'Unconfined'),
    localhostProfile: fc.constant('p.json'),
  },
  { requiredKeys: [] },
);
const capabilities = fc.record(
  {
    drop: orNull(fc.array(fc.constantFrom('ALL', 'all', 'NET_RAW', 'CHOWN'), { maxLength: 3 })),
    add: orNull(
      fc.array(fc.constantFrom('NET_BIND_SERVICE', 'CAP_SYS_ADMIN', 'SYS_ADMIN', 'chown'), {
        maxLength: 3,
      }),
    ),
  },
  { requiredKeys: [] },
);
const containerSecurityContext = fc.record(
  {
    allowPrivilegeEscalation: orNull(fc.boolean()),
    privileged: fc.boolean(),
    runAsNonRoot: orNull(fc.boolean()),
    runAsUser: fc.constantFrom(0, 1000),
    capabilities: malformedOr(capabilities),
    seccompProfile: orNull(seccompProfile),
    procMount: fc.constantFrom('Default', 'Unmasked'),
  },
  { requiredKeys: [] },
);
const container = fc.record(
  {
    name: tricky,
    image: fc.constant(IMAGE),
    securityContext: malformedOr(containerSecurityContext),
  },
  { requiredKeys: ['name', 'image'] },
);
const containerList = fc.oneof(
  { weight: 8, arbitrary: fc.array(container, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.constant('app') },
);
const podSecurityContext = fc.record(
  {
    runAsNonRoot: orNull(fc.boolean()),
    runAsUser: fc.constantFrom(0, 1000),
    seccompProfile: orNull(seccompProfile),
    fsGroup: fc.constant(2000),
  },
  { requiredKeys: [] },
);
const podSpec = fc.record(
  {
    os: fc.record({ name: fc.constantFrom('linux', 'windows') }),
    hostUsers: fc.boolean(),
    securityContext: malformedOr(podSecurityContext),
    containers: fc.oneof(
      { weight: 9, arbitrary: fc.array(container, { minLength: 1, maxLength: 3 }) },
      { weight: 1, arbitrary: fc.constant('app') },
    ),
    initContainers: containerList,
    ephemeralContainers: containerList,
  },
  { requiredKeys: ['containers'] },
);
const object = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    spec: podSpec,
    annotations: fc.dictionary(tricky, fc.constantFrom('x', 'localhost/p', 'unconfined'), {
      maxKeys: 3,
    }),
  })
  .map(({ kind, spec, annotations }) => objectOfKind(kind, spec, { annotations }));

/** Specs whose fixable security fields are unset or compliant, and nothing else is set. */
const fixableSpec = fc.record(
  {
    os: fc.record({ name: fc.constantFrom('linux', 'windows') }),
    hostUsers: fc.boolean(),
    securityContext: fc.record(
      { runAsNonRoot: fc.constant(true), seccompProfile: fc.constant({ type: 'RuntimeDefault' }) },
      { requiredKeys: [] },
    ),
    containers: fc.array(
      fc.record(
        {
          name: tricky,
          image: fc.constant(IMAGE),
          securityContext: fc.record(
            {
              allowPrivilegeEscalation: fc.constant(false),
              capabilities: fc.constantFrom({ drop: ['ALL'] }, { add: ['NET_BIND_SERVICE'] }, {}),
              runAsUser: fc.constant(1000),
            },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: ['name', 'image'] },
      ),
      { minLength: 1, maxLength: 3 },
    ),
  },
  { requiredKeys: ['containers'] },
);

/**
 * Every value the object sets, as [path, value]: primitives, and the length of every list (so
 * that an element appended to a list the object set counts as a change). Nulls count as unset.
 */
function setValues(value: unknown, path: Segment[] = []): Array<[Segment[], unknown]> {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) {
    return [
      [[...path, 'length'], value.length],
      ...value.flatMap((v, i) => setValues(v, [...path, i])),
    ];
  }
  if (isRecord(value)) return Object.entries(value).flatMap(([k, v]) => setValues(v, [...path, k]));
  return [[path, value]];
}

function valueAt(root: unknown, path: Segment[]): unknown {
  const last = path[path.length - 1];
  if (last === 'length') {
    const list = getIn(root, path.slice(0, -1));
    if (Array.isArray(list)) return list.length;
  }
  return getIn(root, path);
}

async function mutate(
  engine: Engine,
  obj: KubeObject,
): Promise<{ patch: unknown[]; after: KubeObject }> {
  const d = await engine.evaluate(makeInput(obj), 'mutate');
  expect(
    d.results.filter((r) => r.outcome === 'error' || r.finding.reason === 'policy-error'),
  ).toEqual([]);
  expect(
    validatePatch(deepClone(d.patch), deepClone(obj)),
    'patch is valid against the object',
  ).toBeUndefined();
  const after = applyPatch(deepClone(obj), deepClone(d.patch), true, false)
    .newDocument as KubeObject;
  return { patch: d.patch, after };
}

describe('mutation properties (every built-in policy)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await engineWith({});
  });

  it('patches apply, are idempotent and change nothing that was set', async () => {
    await fc.assert(
      fc.asyncProperty(object, async (obj) => {
        const { after } = await mutate(engine, obj);
        expect((await mutate(engine, after)).patch, 'second pass').toEqual([]);
        for (const [path, value] of setValues(obj)) {
          expect(valueAt(after, path), `value at ${path.join('.')}`).toEqual(value);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('mutation properties (pod-security)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await engineWith({}, { only: ['pod-security'] });
  });

  it('validation never throws on a random object, before or after mutation', async () => {
    await fc.assert(
      fc.asyncProperty(object, async (obj) => {
        const { after } = await mutate(engine, obj);
        for (const judged of [obj, after]) {
          const d = await engine.evaluate(makeInput(judged), 'validate');
          expect(d.results.map((r) => r.finding.reason)).not.toContain('policy-error');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a spec with unset or compliant fields passes validation after mutation', async () => {
    const arb = fc.record({ kind: fc.constantFrom(...KINDS), spec: fixableSpec });
    await fc.assert(
      fc.asyncProperty(arb, async ({ kind, spec }) => {
        const { after } = await mutate(engine, objectOfKind(kind, spec));
        const d = await engine.evaluate(makeInput(after), 'validate');
        expect(d.results.map((r) => `${r.finding.reason} ${r.finding.path}`)).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});
