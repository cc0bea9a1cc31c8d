import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { z } from 'zod';
import { definePolicy } from '../src/engine/policy.js';
import { configMap, labelPolicy } from './fixtures/test-policies.js';
import { sample, testApp } from './fixtures/server.js';
import { admissionReview } from './fixtures/reviews.js';

// Label values and counts must not follow what a client sends: every series costs Prometheus
// memory for as long as it is kept, and alerts read rates of these counters.
describe('metrics stay bounded whatever the request', () => {
  it('an invalid operation is counted as "other", never by its own name', async () => {
    const { app, metrics } = testApp([labelPolicy]);
    for (const op of ['OP-1', 'OP-2', 'x'.repeat(10_000)]) {
      const review = admissionReview(configMap('cm', 'ns'), { operation: op as never });
      await request(app).post('/validate').send(review).expect(200);
    }
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('OP-1');
    expect(text).not.toContain('xxxxxxxx');
    const labels = { webhook: 'validate', operation: 'other', decision: 'invalid' };
    expect(sample(text, 'phi_guard_admission_requests_total', labels)).toBe(3);
  });

  it('many findings of one policy count as one result of that request', async () => {
    const many = definePolicy({
      id: 'many',
      title: 'Many findings (test)',
      hipaa: ['164.312(b)'],
      match: { kinds: ['ConfigMap'] },
      params: z.object({}).strict(),
      defaultMode: 'enforce',
      validate: () =>
        Array.from({ length: 500 }, (_, i) => ({
          reason: 'bad',
          path: `data.k${i}`,
          message: 'bad key',
          fix: 'remove it',
        })),
    });
    const { app, metrics } = testApp([many]);
    await request(app)
      .post('/validate')
      .send(admissionReview(configMap('cm', 'ns')))
      .expect(200);
    const text = await metrics.registry.metrics();
    const labels = { policy: 'many', mode: 'enforce', result: 'denied' };
    expect(sample(text, 'phi_guard_policy_results_total', labels)).toBe(1);
  });
});
