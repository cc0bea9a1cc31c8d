/**
 * Conformance with upstream Pod Security Admission: every v1.37 fixture of
 * kubernetes/pod-security-admission `test/testdata/{baseline,restricted}/v1.37/{pass,fail}`
 * (kept, by path, in ../shared/conformance/pod-security; see its README.md) must get the same
 * verdict from pod-security's validation at that level, as a Pod and wrapped in the pod template
 * of a Deployment and of a CronJob. Mutation stays off: the fixtures judge the checks alone.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Engine } from '../src/engine/engine.js';
import type { KubeObject } from '../src/engine/policy.js';
import { checksFor } from '../policies/pod-security.js';
import { engineWith, makeInput } from './fixtures/admission.js';
import { controller } from './fixtures/pods.js';

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
const dir = resolve(repoRoot, '../shared/conformance/pod-security');
const LEVELS = ['baseline', 'restricted'] as const;
const VERDICTS = ['pass', 'fail'] as const;
const WRAPPERS = ['Deployment', 'CronJob'] as const;

interface Fixture {
  level: (typeof LEVELS)[number];
  verdict: (typeof VERDICTS)[number];
  file: string;
  pod: KubeObject;
}

function fixtures(): Fixture[] {
  if (!existsSync(dir)) return [];
  return LEVELS.flatMap((level) =>
    VERDICTS.flatMap((verdict) => {
      const folder = join(dir, level, verdict);
      return readdirSync(folder)
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .map((file) => ({
          level,
          verdict,
          file,
          pod: parse(readFileSync(join(folder, file), 'utf8')) as KubeObject,
        }));
    }),
  );
}

/** The pod wrapped in a controller's template, pod metadata (AppArmor annotations) included. */
function wrapped(kind: string, pod: KubeObject): KubeObject {
  const meta = (pod.metadata ?? {}) as { name?: string; annotations?: Record<string, string> };
  return controller(kind, pod.spec, {
    name: meta.name?.replace(/_/g, '-'),
    annotations: meta.annotations,
  });
}

async function findings(engine: Engine, object: KubeObject): Promise<string[]> {
  const decision = await engine.evaluate(makeInput(object), 'validate');
  return decision.results.map((r) => r.finding.reason);
}

/**
 * The check a fail fixture targets, from its name (`<checkid><N>.yaml`, lower-cased), or at
 * restricted the check that overrides it (hostpathvolumes0 fails restrictedVolumes there).
 */
function targetChecks(level: Fixture['level'], file: string): string[] {
  const id = file.replace(/\d+\.yaml$/, '');
  const checks = checksFor(level);
  const direct = checks.filter((c) => c.id.toLowerCase() === id);
  if (direct.length > 0) return direct.map((c) => c.id);
  return checks
    .filter((c) => (c.overrides ?? []).some((o) => o.toLowerCase() === id))
    .map((c) => c.id);
}

if (!existsSync(dir)) console.warn(`pod-security conformance skipped: ${dir} is missing`);

describe.skipIf(!existsSync(dir))(
  'pod-security conformance with Pod Security Admission v1.37',
  () => {
    const all = fixtures();
    const engines = new Map<string, Promise<Engine>>(
      LEVELS.map((level) => [
        level,
        engineWith(
          { policies: { 'pod-security': { params: { level, mutate: false } } } },
          { only: ['pod-security'] },
        ),
      ]),
    );
    const agree = { baseline: 0, restricted: 0 };

    it('finds the fixtures of both levels', () => {
      expect(all.filter((f) => f.level === 'baseline').length).toBeGreaterThan(0);
      expect(all.filter((f) => f.level === 'restricted').length).toBeGreaterThan(0);
    });

    it.each(all.map((f) => [`${f.level}/${f.verdict}/${f.file}`, f] as const))(
      '%s',
      async (_name, f) => {
        const engine = await engines.get(f.level)!;
        const objects = [f.pod, ...WRAPPERS.map((kind) => wrapped(kind, f.pod))];
        const targets = f.verdict === 'fail' ? targetChecks(f.level, f.file) : [];
        if (f.verdict === 'fail')
          expect(targets, 'the fixture names a known check').not.toEqual([]);
        for (const object of objects) {
          const got = await findings(engine, object);
          if (f.verdict === 'pass') expect(got, `${String(object.kind)} must pass`).toEqual([]);
          else
            expect(got, `${String(object.kind)} must fail ${targets.join(' or ')}`).toContainEqual(
              expect.toBeOneOf(targets),
            );
        }
        agree[f.level]++;
      },
    );

    afterAll(() => {
      const total = agree.baseline + agree.restricted;
      console.log(
        `pod-security conformance: ${all.length} fixtures, ${total} agree ` +
          `(baseline ${agree.baseline}, restricted ${agree.restricted})`,
      );
    });
  },
);
