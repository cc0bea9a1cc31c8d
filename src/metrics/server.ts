/**
 * The plain-HTTP metrics endpoint, on its own port so that the NetworkPolicy can open it to the
 * monitoring namespace only while the webhook port stays open to the API server.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { listen } from '../server/listen.js';

/** A listening metrics server. */
export interface MetricsServer {
  server: HttpServer;
  port: number;
}

/** Serves `GET /metrics` from `registry` on `port` (0: an ephemeral port). */
export async function startMetricsServer(
  registry: Registry,
  port: number,
  host?: string,
): Promise<MetricsServer> {
  const server = createServer(function serveMetrics(req, res) {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await listen(server, port, host);
  return { server, port: (server.address() as AddressInfo).port };
}
