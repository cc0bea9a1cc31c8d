import { connect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './fixtures/server.js';
import { admissionReview, pod } from './fixtures/reviews.js';

// Real TLS: the point is what happens to sockets, which an in-process app cannot show.
describe('HTTPS connections', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ firstRequestTimeoutMs: 300 });
  });
  afterAll(async () => t?.close());

  function tlsSocket() {
    const ca = readFileSync(t.server.caFile!, 'utf8');
    return connect({ host: '127.0.0.1', port: t.server.port, ca, servername: 'localhost' });
  }

  it('a connection that never sends a request is closed by the server', async () => {
    const socket = tlsSocket();
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const started = Date.now();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a connection that sends requests stays open for keep-alive', async () => {
    const first = await t.client.post('/validate', admissionReview(pod('keep')));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const second = await t.client.post('/validate', admissionReview(pod('keep')));
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.localPort).toBe(first.localPort);
  });
});
