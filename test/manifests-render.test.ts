/**
 * The kustomize tree renders, every object once, and the fallback resolver used where kubectl is
 * absent gives exactly what a real kustomize gives.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MANIFESTS_DIR,
  TARGETS,
  hasKubectl,
  objectKey,
  render,
  renderKustomization,
  renderWithKubectl,
  rendererName,
  type RenderedObject,
} from './fixtures/kustomize.js';

function byKey(objects: RenderedObject[]): Map<string, RenderedObject> {
  return new Map(objects.map((o) => [objectKey(o), o]));
}

describe(`manifests render (${rendererName()})`, () => {
  it.each(TARGETS)('%s renders objects with kind, name and no duplicate', (target) => {
    const objects = render(target);
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) {
      expect(o.apiVersion, objectKey(o)).toMatch(/\S/);
      expect(o.metadata.name, objectKey(o)).toMatch(/^[a-z0-9][-a-z0-9.]*$/);
    }
    expect(byKey(objects).size).toBe(objects.length);
  });

  it.each(['overlays/cert-manager', 'overlays/self-managed'] as const)(
    '%s holds the whole base',
    (overlay) => {
      const overlayKeys = new Set(render(overlay).map(objectKey));
      for (const key of render('base').map(objectKey)) expect(overlayKeys).toContain(key);
    },
  );

  it('the monitoring overlay holds no base object (it is applied beside a certificate overlay)', () => {
    const base = new Set(render('base').map(objectKey));
    expect(render('overlays/monitoring').filter((o) => base.has(objectKey(o)))).toEqual([]);
  });
});

describe.skipIf(!hasKubectl())('fallback resolver agrees with kubectl kustomize', () => {
  it.each(TARGETS)('%s: same objects, same content', (target) => {
    const dir = join(MANIFESTS_DIR, target);
    const real = byKey(renderWithKubectl(dir));
    const ours = byKey(renderKustomization(dir));
    expect([...ours.keys()].sort()).toEqual([...real.keys()].sort());
    for (const [key, object] of real) expect(ours.get(key), key).toEqual(object);
  });
});

describe('fallback resolver refuses what it does not implement', () => {
  it('a kustomization with a namePrefix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'phi-guard-kustomize-'));
    try {
      writeFileSync(join(dir, 'kustomization.yaml'), 'namePrefix: x-\nresources: []\n');
      expect(() => renderKustomization(dir)).toThrow(/unsupported field\(s\) namePrefix/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

if (!hasKubectl()) {
  console.warn(
    'manifests-render: kubectl not found, the fallback resolver is not compared with kustomize',
  );
}
