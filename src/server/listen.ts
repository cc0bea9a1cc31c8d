/**
 * Binding a server to its port, with the failure (EADDRINUSE, EACCES) named by the port.
 */
import type { Server } from 'node:net';

/** Starts listening and resolves once bound; rejects on EADDRINUSE and the like. */
export function listen(server: Server, port: number, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) =>
      reject(new Error(`cannot listen on port ${port}`, { cause: err }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
