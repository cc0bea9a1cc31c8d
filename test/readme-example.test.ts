import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { builtinPolicies } from './fixtures/admission.js';
import { REPO_ROOT, testApp } from './fixtures/server.js';

// The README's quick start posts this file with curl; keep what the README promises true.
const review = JSON.parse(
  readFileSync(join(REPO_ROOT, 'test/fixtures/admission-review-pod.json'), 'utf8'),
) as { request: { uid: string } };

describe('README quick-start example', () => {
  it('the privileged Pod is denied by pod-security, naming the field', async () => {
    const { app } = testApp(await builtinPolicies());
    const res = await request(app).post('/validate').send(review).expect(200);
    expect(res.body.response.uid).toBe(review.request.uid);
    expect(res.body.response.allowed).toBe(false);
    expect(res.body.response.status.code).toBe(403);
    expect(res.body.response.status.message).toContain(
      '[pod-security] Pod default/debug-shell: spec.containers[0].securityContext.privileged: ',
    );
  });

  it('the same Pod gets a JSON Patch from /mutate', async () => {
    const { app } = testApp(await builtinPolicies());
    const res = await request(app).post('/mutate').send(review).expect(200);
    expect(res.body.response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(Buffer.from(res.body.response.patch, 'base64').toString('utf8'));
    expect(patch).toContainEqual({
      op: 'add',
      path: '/spec/securityContext',
      value: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    });
  });
});
