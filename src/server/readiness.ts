/**
 * Readiness: the server is ready once every start-up condition is met (certificates, config, the
 * namespace cache's first sync...) and stops being ready for good when shutdown begins, so that
 * the Service's endpoints drop the pod before it stops accepting connections.
 */

/** A set of named start-up conditions plus a shutdown flag. */
export class Readiness {
  readonly #pending = new Set<string>();
  #stopping = false;

  /** Marks `condition` as not yet met (e.g. `namespace-cache`). */
  wait(condition: string): void {
    this.#pending.add(condition);
  }

  /** Marks `condition` as met. */
  done(condition: string): void {
    this.#pending.delete(condition);
  }

  /** Turns readiness off for good: the process is shutting down. */
  stop(): void {
    this.#stopping = true;
  }

  /** True while shutting down. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** True when every condition is met and no shutdown has begun. */
  get ready(): boolean {
    return !this.#stopping && this.#pending.size === 0;
  }

  /** What readiness waits for, for the `/readyz` body. */
  reasons(): string[] {
    return this.#stopping ? ['shutting-down'] : [...this.#pending].sort();
  }
}
