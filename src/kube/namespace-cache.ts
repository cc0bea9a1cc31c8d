/**
 * A local copy of every Namespace's labels, kept current by a list+watch (client-node's
 * informer), so that policies can ask "is this a PHI namespace?" without an API call per request.
 */
import {
  CoreV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type V1Namespace,
  type V1NamespaceList,
} from '@kubernetes/client-node';
import type { ClusterLookup } from '../engine/policy.js';

/** Options of a {@link NamespaceCache}. */
export interface NamespaceCacheOptions {
  /** Where the API server is and who we are there. */
  kubeConfig: KubeConfig;
  /** Wait after the first failure of a list or watch before restarting; doubles per failure. */
  initialBackoffMs?: number;
  /** Longest wait between restarts. */
  maxBackoffMs?: number;
  /** Called on every list or watch failure, before the restart is scheduled. */
  onError?: (err: Error) => void;
}

const NAMESPACES_PATH = '/api/v1/namespaces';

/**
 * client-node's Watch, aborting a watch that finishes opening after stop(). The informer's own
 * stop() aborts only a watch already open, so one being opened at that moment (or opened right
 * after a list in flight) would otherwise stay connected until the API server times it out.
 */
class StoppableWatch extends Watch {
  stopped = false;

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const controller = await super.watch(...args);
    if (this.stopped) controller.abort();
    return controller;
  }
}

/**
 * Namespaces by name, from a list followed by a watch.
 *
 * Recovery: when the API server ends a watch (its timeout, a restart), the informer watches
 * again from the last resourceVersion it saw, which the API server guarantees to replay every
 * change since; when that version is too old the API server answers 410 Gone and the informer
 * lists again (Kubernetes API concepts, "Efficient detection of changes":
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).
 * A failed list or a broken connection stops the informer with an error; this class restarts it
 * after a backoff that doubles up to `maxBackoffMs` and resets once data flows again.
 */
export class NamespaceCache implements ClusterLookup {
  /** Resolves after the first complete list; readiness waits for it. */
  readonly ready: Promise<void>;
  readonly #informer: ListWatch<V1Namespace>;
  readonly #watch: StoppableWatch;
  readonly #options: NamespaceCacheOptions;
  #resolveReady!: () => void;
  #synced = false;
  #started = false;
  #stopped = false;
  #backoffMs: number;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(options: NamespaceCacheOptions) {
    this.#options = options;
    this.#backoffMs = this.#initialBackoff();
    this.ready = new Promise((resolve) => (this.#resolveReady = resolve));
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#watch = new StoppableWatch(options.kubeConfig);
    // What makeInformer() builds (a ListWatch that does not start itself), with the stoppable
    // Watch in place of a plain one.
    const list = () => this.#list(core);
    this.#informer = new ListWatch<V1Namespace>(NAMESPACES_PATH, this.#watch, list, false);
    this.#informer.on('error', (err: unknown) => this.#onError(err));
    this.#informer.on('change', () => (this.#backoffMs = this.#initialBackoff()));
  }

  /**
   * Starts listing and watching (once; later calls do nothing). Resolves when the first attempt
   * is under way or has failed; await `ready` for the first complete list.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#run();
  }

  /** True after the first complete list. */
  isSynced(): boolean {
    return this.#synced;
  }

  /** Labels of a namespace; undefined when it is unknown or the cache has not synced yet. */
  namespaceLabels(namespace: string): Record<string, string> | undefined {
    if (!this.#synced) return undefined;
    const ns = this.#informer.get(namespace);
    return ns ? (ns.metadata?.labels ?? {}) : undefined;
  }

  /** Stops the watch and any pending restart. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#watch.stopped = true;
    await this.#informer.stop();
  }

  async #list(core: CoreV1Api): Promise<V1NamespaceList> {
    const list = await core.listNamespace();
    this.#backoffMs = this.#initialBackoff();
    // The informer stores the items synchronously once this promise settles, so by the next
    // turn of the event loop the cache holds every namespace.
    setImmediate(() => this.#markSynced());
    return list;
  }

  async #run(): Promise<void> {
    try {
      await this.#informer.start();
    } catch (err) {
      // Failures the informer does not report itself, e.g. a kubeconfig without a cluster.
      this.#onError(err);
    }
  }

  #markSynced(): void {
    if (this.#synced || this.#stopped) return;
    this.#synced = true;
    this.#resolveReady();
  }

  #onError(err: unknown): void {
    // stop() aborts the watch request, which the informer reports as an error too.
    if (this.#stopped || this.#restartTimer) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(delay * 2, this.#options.maxBackoffMs ?? 30_000);
    this.#options.onError?.(
      new Error(`namespace watch failed; restarting in ${delay} ms`, { cause: err }),
    );
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) void this.#run();
    }, delay);
    this.#restartTimer.unref();
  }

  #initialBackoff(): number {
    return this.#options.initialBackoffMs ?? 500;
  }
}
