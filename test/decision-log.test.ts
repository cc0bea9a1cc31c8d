import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { configMap, labelPolicy, throwingPolicy } from './fixtures/test-policies.js';
import { testApp } from './fixtures/server.js';
import { admissionReview } from './fixtures/reviews.js';
import { LOG_MESSAGE } from '../src/logging/fields.js';

describe('decision log', () => {
  it('a policy that throws is logged with its type and frames, never its message', async () => {
    const { app, logs, rawLogs } = testApp([throwingPolicy]);
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'ns' } };
    await request(app).post('/validate').send(admissionReview(secret)).expect(200);

    const line = logs.find((l) => l.msg === LOG_MESSAGE.policyError);
    expect(line).toMatchObject({ policy: 'throws', err: { type: 'Error' } });
    expect(String((line?.err as { stack?: string }).stack)).toMatch(/\n\s+at /);
    expect(rawLogs.join('')).not.toContain('hunter2');
  });

  it('an over-long object name is cut in the decision line', async () => {
    const { app, logs } = testApp([labelPolicy]);
    const review = admissionReview(configMap('n'.repeat(50_000), 'ns'));
    await request(app).post('/validate').send(review).expect(200);

    const line = logs.find((l) => l.msg === LOG_MESSAGE.decision);
    expect(String(line?.name)).toHaveLength(253);
  });

  it('a forged review with a huge uid, user and group list logs a bounded line', async () => {
    const { app, logs, rawLogs } = testApp([labelPolicy]);
    const groups = Array.from({ length: 100_000 }, (_, i) => `group-${i}`);
    const review = admissionReview(configMap('cm', 'ns'), {
      uid: 'u'.repeat(2_000_000),
      userInfo: { username: 'a'.repeat(3_000_000), groups },
    });
    const answer = await request(app).post('/validate').send(review).expect(200);

    expect(answer.body.response.uid).toHaveLength(2_000_000);
    const line = logs.find((l) => l.msg === LOG_MESSAGE.decision)!;
    expect(String(line.uid)).toHaveLength(128);
    expect(String(line.user)).toHaveLength(512);
    expect(line.groups).toHaveLength(101);
    expect((line.groups as string[]).at(-1)).toBe('… 99900 more groups');
    expect(rawLogs.join('').length).toBeLessThan(20_000);
  });

  it('an invalid operation is cut in the bad-request line', async () => {
    const { app, rawLogs } = testApp([labelPolicy]);
    const review = admissionReview(configMap('cm', 'ns'), {
      operation: 'Q'.repeat(100_000) as never,
    });
    await request(app).post('/validate').send(review).expect(200);
    expect(rawLogs.join('').length).toBeLessThan(5_000);
  });
});
