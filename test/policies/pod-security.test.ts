/**
 * pod-security through the engine: the case table (test/cases/pod-security.ts) on the validating
 * webhook, then the mutating webhook: patches applied with fast-json-patch to the object as
 * sent, the result judged again by validation, and a second pass that must add nothing.
 */
import fastJsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { type AdmissionInput, type Decision } from '../../src/engine/engine.js';
import type { KubeObject, PatchOperation } from '../../src/engine/policy.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { cases } from '../cases/pod-security.js';
import { engineWith, makeInput } from '../fixtures/admission.js';
import {
  bareContainer,
  bareSpec,
  controller,
  cronJob,
  deployment,
  edit,
  edits,
  IMAGE,
  pod,
  restrictedContainer,
  restrictedSpec,
} from '../fixtures/pods.js';
import { expectCase } from '../fixtures/cases.js';

const { applyPatch, deepClone, validate: validatePatch } = fastJsonPatch;
const POLICY = 'pod-security';
const NOW = new Date('2026-06-01T12:00:00Z');

async function evaluate(
  webhook: 'mutate' | 'validate',
  object: KubeObject | undefined,
  request: Partial<AdmissionInput> = {},
  config: ConfigInput = {},
): Promise<Decision> {
  const engine = await engineWith(config, { only: [POLICY], now: NOW });
  return engine.evaluate(makeInput(object, request), webhook);
}

describe('pod-security cases', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const engine = await engineWith(c.config, { only: [c.policy], now: NOW });
    expectCase(c, await engine.evaluate(makeInput(c.object, c.request), 'validate'));
  });

  it('names every container of a failing check in one pod-level finding', async () => {
    const spec = edits(bareSpec(), [[['containers', 1], bareContainer('sidecar')]]);
    const d = await evaluate('validate', pod(spec));
    const runAsNonRoot = d.results.filter((r) => r.finding.reason === 'runAsNonRoot');
    expect(runAsNonRoot.map((r) => r.finding.message)).toEqual([
      'pod or containers "init", "app", "sidecar" must set securityContext.runAsNonRoot=true',
    ]);
  });
});

/** The mutating webhook's answer, checked to apply cleanly to the object as sent. */
async function mutated(
  object: KubeObject,
  request: Partial<AdmissionInput> = {},
  config: ConfigInput = {},
): Promise<{ patch: PatchOperation[]; after: KubeObject }> {
  const d = await evaluate('mutate', object, request, config);
  expect(d.results, 'mutation reported no error').toEqual([]);
  expect(validatePatch(deepClone(d.patch), deepClone(object))).toBeUndefined();
  const after = applyPatch(deepClone(object), deepClone(d.patch), true, false)
    .newDocument as KubeObject;
  return { patch: d.patch, after };
}

const HARDENED = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
const POD_DEFAULTS = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };

interface MutationCase {
  name: string;
  object: KubeObject;
  request?: Partial<AdmissionInput>;
  config?: ConfigInput;
  /** The exact patch, when the case pins it. */
  patch?: PatchOperation[];
  /** JSON Pointers the patch must not touch (or touch below). */
  untouched?: string[];
  /** Reasons validation reports on the mutated object; none means it is allowed. */
  reasonsAfter?: string[];
}

const debugTarget = pod(
  edit(
    restrictedSpec(),
    ['ephemeralContainers'],
    [{ name: 'debugger-old', image: IMAGE, securityContext: HARDENED }],
  ),
);
const newDebugger = { name: 'debugger-new', image: IMAGE, targetContainerName: 'app' };
const legacyPod = pod(edit(bareSpec(), ['initContainers'], [restrictedContainer('init')]));

const mutationCases: MutationCase[] = [
  {
    name: 'Pod without any security field',
    object: pod(bareSpec()),
    patch: [
      { op: 'add', path: '/spec/securityContext', value: POD_DEFAULTS },
      { op: 'add', path: '/spec/initContainers/0/securityContext', value: HARDENED },
      { op: 'add', path: '/spec/containers/0/securityContext', value: HARDENED },
    ],
  },
  {
    name: 'Deployment without any security field',
    object: deployment(bareSpec()),
    patch: [
      { op: 'add', path: '/spec/template/spec/securityContext', value: POD_DEFAULTS },
      { op: 'add', path: '/spec/template/spec/initContainers/0/securityContext', value: HARDENED },
      { op: 'add', path: '/spec/template/spec/containers/0/securityContext', value: HARDENED },
    ],
  },
  {
    name: 'CronJob without any security field',
    object: cronJob(edit(bareSpec(), ['initContainers'], undefined)),
    patch: [
      {
        op: 'add',
        path: '/spec/jobTemplate/spec/template/spec/securityContext',
        value: POD_DEFAULTS,
      },
      {
        op: 'add',
        path: '/spec/jobTemplate/spec/template/spec/containers/0/securityContext',
        value: HARDENED,
      },
    ],
  },
  {
    name: 'container sets runAsUser and adds NET_BIND_SERVICE',
    object: pod(
      edits(bareSpec(), [
        [['securityContext'], { fsGroup: 2000 }],
        [
          ['containers', 0, 'securityContext'],
          { runAsUser: 1000, capabilities: { add: ['NET_BIND_SERVICE'] } },
        ],
      ]),
    ),
    patch: [
      { op: 'add', path: '/spec/securityContext/runAsNonRoot', value: true },
      {
        op: 'add',
        path: '/spec/securityContext/seccompProfile',
        value: { type: 'RuntimeDefault' },
      },
      { op: 'add', path: '/spec/initContainers/0/securityContext', value: HARDENED },
      {
        op: 'add',
        path: '/spec/containers/0/securityContext/allowPrivilegeEscalation',
        value: false,
      },
      { op: 'add', path: '/spec/containers/0/securityContext/capabilities/drop', value: ['ALL'] },
    ],
  },
  {
    name: 'pod sets runAsUser 0',
    object: pod(edit(bareSpec(), ['securityContext'], { runAsUser: 0 })),
    untouched: ['/spec/securityContext/runAsNonRoot'],
    reasonsAfter: ['runAsNonRoot', 'runAsUser'],
  },
  {
    name: 'one container sets runAsUser 0 and no runAsNonRoot of its own',
    object: pod(edit(bareSpec(), ['containers', 0, 'securityContext'], { runAsUser: 0 })),
    untouched: [
      '/spec/securityContext/runAsNonRoot',
      '/spec/containers/0/securityContext/runAsNonRoot',
    ],
    reasonsAfter: ['runAsNonRoot', 'runAsUser'],
  },
  {
    name: 'pod sets runAsUser 0 and the container overrides it with 1000',
    object: pod(
      edits(bareSpec(), [
        [['securityContext'], { runAsUser: 0 }],
        [['initContainers', 0, 'securityContext'], { runAsUser: 1000 }],
        [['containers', 0, 'securityContext'], { runAsUser: 1000 }],
      ]),
    ),
    untouched: ['/spec/securityContext/runAsNonRoot'],
    reasonsAfter: ['runAsUser'],
  },
  {
    name: 'container drops NET_RAW but not ALL',
    object: pod(
      edit(bareSpec(), ['containers', 0, 'securityContext'], {
        capabilities: { drop: ['NET_RAW'] },
      }),
    ),
    untouched: ['/spec/containers/0/securityContext/capabilities'],
    reasonsAfter: ['capabilities_restricted'],
  },
  {
    name: 'container sets privileged true',
    object: pod(edit(bareSpec(), ['containers', 0, 'securityContext'], { privileged: true })),
    untouched: ['/spec/containers/0/securityContext/allowPrivilegeEscalation'],
    reasonsAfter: ['privileged', 'allowPrivilegeEscalation'],
  },
  {
    name: 'container adds CAP_SYS_ADMIN',
    object: pod(
      edit(bareSpec(), ['containers', 0, 'securityContext'], {
        capabilities: { add: ['CAP_SYS_ADMIN'] },
      }),
    ),
    untouched: ['/spec/containers/0/securityContext/allowPrivilegeEscalation'],
    reasonsAfter: ['allowPrivilegeEscalation', 'capabilities_restricted'],
  },
  {
    name: 'Windows pod without any security field',
    object: pod({ os: { name: 'windows' }, containers: [bareContainer('app')] }),
    patch: [{ op: 'add', path: '/spec/securityContext', value: { runAsNonRoot: true } }],
  },
  {
    name: 'pod in a user namespace',
    object: pod(edit(bareSpec(), ['hostUsers'], false)),
    untouched: ['/spec/securityContext/runAsNonRoot'],
  },
  {
    name: 'every container sets runAsNonRoot',
    object: pod(
      edits(bareSpec(), [
        [['containers', 0, 'securityContext', 'runAsNonRoot'], true],
        [['initContainers', 0, 'securityContext', 'runAsNonRoot'], true],
      ]),
    ),
    untouched: ['/spec/securityContext/runAsNonRoot'],
  },
  {
    name: 'pod sets runAsNonRoot false',
    object: pod(edit(bareSpec(), ['securityContext'], { runAsNonRoot: false })),
    untouched: ['/spec/securityContext/runAsNonRoot'],
    reasonsAfter: ['runAsNonRoot'],
  },
  {
    name: 'pod securityContext is a string',
    object: pod(edit(bareSpec(), ['securityContext'], 'restricted')),
    untouched: ['/spec/securityContext'],
    reasonsAfter: ['invalidShape', 'runAsNonRoot', 'seccompProfile_restricted'],
  },
  {
    name: 'container securityContext is a string',
    object: pod(edit(bareSpec(), ['containers', 0, 'securityContext'], 'restricted')),
    untouched: ['/spec/containers/0'],
    reasonsAfter: ['invalidShape', 'allowPrivilegeEscalation', 'capabilities_restricted'],
  },
  {
    name: 'containers is not a list',
    object: pod(edit(bareSpec(), ['containers'], { name: 'app', image: IMAGE })),
    untouched: ['/spec/containers'],
    reasonsAfter: ['invalidShape'],
  },
  {
    name: 'UPDATE of a Pod',
    object: pod(bareSpec()),
    request: { operation: 'UPDATE', oldObject: pod(bareSpec()) },
    patch: [],
    // Immutable here, so the old violations stay, warned as pre-existing.
    reasonsAfter: [
      'allowPrivilegeEscalation',
      'capabilities_restricted',
      'runAsNonRoot',
      'seccompProfile_restricted',
    ],
  },
  {
    name: 'UPDATE of a Job',
    object: controller('Job', bareSpec()),
    request: { operation: 'UPDATE', oldObject: controller('Job', bareSpec()) },
    patch: [],
    // Immutable here, so the old violations stay, warned as pre-existing.
    reasonsAfter: [
      'allowPrivilegeEscalation',
      'capabilities_restricted',
      'runAsNonRoot',
      'seccompProfile_restricted',
    ],
  },
  {
    name: 'UPDATE of a Deployment',
    object: deployment(bareSpec()),
    request: { operation: 'UPDATE', oldObject: deployment(bareSpec()) },
    patch: [
      { op: 'add', path: '/spec/template/spec/securityContext', value: POD_DEFAULTS },
      { op: 'add', path: '/spec/template/spec/initContainers/0/securityContext', value: HARDENED },
      { op: 'add', path: '/spec/template/spec/containers/0/securityContext', value: HARDENED },
    ],
  },
  {
    name: 'kubectl debug adds an ephemeral container to a restricted pod',
    object: edit(debugTarget, ['spec', 'ephemeralContainers', 1], newDebugger),
    request: { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: debugTarget },
    patch: [{ op: 'add', path: '/spec/ephemeralContainers/1/securityContext', value: HARDENED }],
  },
  {
    name: 'kubectl debug adds an ephemeral container to a pod without pod-level defaults',
    object: edit(legacyPod, ['spec', 'ephemeralContainers'], [newDebugger]),
    request: { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: legacyPod },
    patch: [
      {
        op: 'add',
        path: '/spec/ephemeralContainers/0/securityContext',
        value: { ...HARDENED, ...POD_DEFAULTS },
      },
    ],
    // The old pod's own containers were never hardened: warned as pre-existing, not denied.
    reasonsAfter: [
      'allowPrivilegeEscalation',
      'capabilities_restricted',
      'runAsNonRoot',
      'seccompProfile_restricted',
    ],
  },
  {
    name: 'level baseline',
    object: pod(bareSpec()),
    config: { policies: { [POLICY]: { params: { level: 'baseline' } } } },
    patch: [],
  },
  {
    name: 'mutate param false',
    object: pod(bareSpec()),
    config: { policies: { [POLICY]: { params: { mutate: false } } } },
    patch: [],
    reasonsAfter: [
      'allowPrivilegeEscalation',
      'capabilities_restricted',
      'runAsNonRoot',
      'seccompProfile_restricted',
    ],
  },
];

describe('pod-security mutation', () => {
  it.each(mutationCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const request = c.request ?? {};
    const { patch, after } = await mutated(c.object, request, c.config);
    if (c.patch) expect(patch).toEqual(c.patch);
    for (const pointer of c.untouched ?? []) {
      expect(
        patch.filter((op) => op.path === pointer || op.path.startsWith(`${pointer}/`)),
      ).toEqual([]);
    }

    // The second pass is the same request over the mutated object (same oldObject on UPDATE).
    const again = await mutated(after, request, c.config);
    expect(again.patch, 'second pass adds nothing').toEqual([]);

    const judged = await evaluate('validate', after, request, c.config);
    expect(judged.results.map((r) => r.finding.reason)).not.toContain('policy-error');
    const reasons = [...new Set(judged.results.map((r) => r.finding.reason))].sort();
    expect(reasons).toEqual([...(c.reasonsAfter ?? [])].sort());
    if (!c.reasonsAfter || c.request?.operation === 'UPDATE') expect(judged.allowed).toBe(true);
  });

  it("a container that runs as user 0 keeps its siblings' runAsNonRoot default", async () => {
    const spec = edits(bareSpec(), [
      [['containers', 0, 'securityContext'], { runAsUser: 0 }],
      [['containers', 1], bareContainer('sidecar')],
    ]);
    const { after } = await mutated(pod(spec));
    const sc = (list: string, i: number) =>
      (((after.spec as Record<string, unknown[]>)[list]![i] as Record<string, unknown>)
        .securityContext ?? {}) as Record<string, unknown>;
    expect(
      (after.spec as Record<string, Record<string, unknown>>).securityContext,
    ).not.toHaveProperty('runAsNonRoot');
    expect(sc('containers', 0)).not.toHaveProperty('runAsNonRoot');
    expect(sc('containers', 1).runAsNonRoot).toBe(true);
    expect(sc('initContainers', 0).runAsNonRoot).toBe(true);
  });

  it('a mutated pod is never denied for what mutation fixes', async () => {
    const fixable = [
      'runAsNonRoot',
      'seccompProfile_restricted',
      'allowPrivilegeEscalation',
      'capabilities_restricted',
    ];
    const spec = edits(bareSpec(), [
      [['containers', 1], bareContainer('sidecar', { securityContext: { runAsUser: 1000 } })],
      [['ephemeralContainers'], [bareContainer('debugger')]],
    ]);
    for (const kind of [
      'Pod',
      'Deployment',
      'StatefulSet',
      'DaemonSet',
      'ReplicaSet',
      'Job',
      'CronJob',
    ]) {
      const object = kind === 'Pod' ? pod(spec) : controller(kind, spec);
      const before = await evaluate('validate', object);
      expect(before.results.map((r) => r.finding.reason)).toEqual(expect.arrayContaining(fixable));
      const { after } = await mutated(object);
      const judged = await evaluate('validate', after);
      expect(judged.results, `${kind} after mutation`).toEqual([]);
    }
  });

  it('audit mode leaves the object alone', async () => {
    const d = await evaluate(
      'mutate',
      pod(bareSpec()),
      {},
      { policies: { [POLICY]: { mode: 'audit' } } },
    );
    expect(d.patch).toEqual([]);
  });
});
