/**
 * The serving certificate of the HTTPS server, swapped in place when it changes: files mounted by
 * cert-manager or a Secret volume are watched and re-read, an in-memory pair (development or
 * self-managed certificates) is replaced through `update()`. New TLS connections get the new pair;
 * connections already open keep the session they negotiated.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { Server as TlsServer } from 'node:tls';
import { checkPair, type CertificatePair } from './certs.js';

/** Oldest TLS version the server accepts (TLS 1.0 and 1.1 are deprecated by RFC 8996). */
export const TLS_MIN_VERSION = 'TLSv1.2' as const;

/** Default period of the stat poll that backs up directory watching. */
export const DEFAULT_POLL_INTERVAL_MS = 5_000;

/** What changed in a {@link CertStore}, passed to `onReload`. */
export interface CertReloadEvent {
  /** notAfter of the certificate now served. */
  expiry: Date;
  /** `files` when re-read from disk, `update` when handed over by `update()`. */
  source: 'files' | 'update';
}

/** Options of a {@link CertStore}. */
export interface CertStoreOptions {
  /** Called after a new pair is in use. */
  onReload?: (event: CertReloadEvent) => void;
  /** Called when a new pair on disk is rejected (the previous pair stays in use). */
  onError?: (err: Error) => void;
  /** Period of the stat poll in ms, the fallback for missed watch events; 0 turns it off. */
  pollIntervalMs?: number;
  /** Watch the certificate's folder for changes (default true); the poll runs regardless. */
  watchDirectory?: boolean;
  /** Quiet time after a watch event before re-reading, so a burst of writes reads once. */
  debounceMs?: number;
}

interface FileSource {
  certPath: string;
  keyPath: string;
  watchers: FSWatcher[];
  pollTimer?: NodeJS.Timeout;
  debounceTimer?: NodeJS.Timeout;
  /** Stat signature of the files at the last read attempt, to re-read only after a change. */
  signature: string;
}

/**
 * Holds the current certificate pair and its TLS context. Use it as
 * `https.createServer({ ...store.secureContextOptions(), SNICallback: store.sniCallback,
 * minVersion: TLS_MIN_VERSION })` and `store.attach(server)`: the SNI callback serves clients that
 * send a server name, `attach` swaps the default context for those that do not (IP clients).
 */
export class CertStore {
  #pair: CertificatePair;
  #context: SecureContext;
  #expiry: Date;
  #files: FileSource | undefined;
  #reloading: Promise<boolean> = Promise.resolve(false);
  readonly #servers = new Set<TlsServer>();
  readonly #options: CertStoreOptions;

  private constructor(pair: CertificatePair, options: CertStoreOptions) {
    this.#options = options;
    const checked = prepare(pair);
    this.#pair = pair;
    this.#context = checked.context;
    this.#expiry = checked.expiry;
  }

  /** A store serving an in-memory pair; throws when the pair is unusable. */
  static fromPair(pair: CertificatePair, options: CertStoreOptions = {}): CertStore {
    return new CertStore(pair, options);
  }

  /**
   * A store serving `certPath` + `keyPath` and reloading them when they change. Throws when the
   * files are missing or do not form a usable pair. The folder is watched rather than the files,
   * because Secret and ConfigMap volumes replace files by swapping a `..data` symlink, which a
   * watch on the old file never reports (kubernetes/kubernetes pkg/volume/util/atomic_writer.go).
   */
  static async fromFiles(
    certPath: string,
    keyPath: string,
    options: CertStoreOptions = {},
  ): Promise<CertStore> {
    const pair = await readPair(certPath, keyPath);
    const store = new CertStore(pair, options);
    const files: FileSource = { certPath, keyPath, watchers: [], signature: '' };
    files.signature = await signatureOf(files);
    store.#files = files;
    store.#startWatching(files);
    return store;
  }

  /** notAfter of the certificate in use. */
  get expiry(): Date {
    return this.#expiry;
  }

  /** The certificate PEM in use (public data; the key is never exposed). */
  get certPem(): string {
    return this.#pair.certPem;
  }

  /** Options for `tls.createSecureContext`, `https.createServer` or `server.setSecureContext`. */
  secureContextOptions(): SecureContextOptions {
    return { cert: this.#pair.certPem, key: this.#pair.keyPem, minVersion: TLS_MIN_VERSION };
  }

  /** The TLS context of the pair in use. */
  secureContext(): SecureContext {
    return this.#context;
  }

  /** An `SNICallback` for `tls`/`https` servers that always answers with the current context. */
  readonly sniCallback = (
    _servername: string,
    callback: (err: Error | null, context?: SecureContext) => void,
  ): void => {
    callback(null, this.#context);
  };

  /** Keeps `server`'s default context current (`setSecureContext` on every reload) until close. */
  attach(server: TlsServer): void {
    this.#servers.add(server);
    server.once('close', () => this.#servers.delete(server));
  }

  /** Replaces the pair; throws (keeping the previous pair) when the new one is unusable. */
  update(pair: CertificatePair): void {
    this.#install(pair, 'update');
  }

  /**
   * Re-reads the files now (file-backed stores only). Resolves true when a new pair is in use,
   * false when nothing changed or the new files were rejected (then `onError` was called).
   */
  reload(): Promise<boolean> {
    const files = this.#files;
    if (!files) return Promise.resolve(false);
    // Serialised so that a watch event and a poll tick never install out of order.
    this.#reloading = this.#reloading.then(() => this.#reloadFiles(files));
    return this.#reloading;
  }

  /** Stops watching and polling; the last pair stays usable. */
  close(): void {
    const files = this.#files;
    if (!files) return;
    files.watchers.forEach((w) => w.close());
    files.watchers = [];
    clearInterval(files.pollTimer);
    clearTimeout(files.debounceTimer);
    this.#servers.clear();
    this.#files = undefined;
  }

  #install(pair: CertificatePair, source: CertReloadEvent['source']): void {
    const checked = prepare(pair);
    this.#pair = pair;
    this.#context = checked.context;
    this.#expiry = checked.expiry;
    for (const server of this.#servers) server.setSecureContext(this.secureContextOptions());
    this.#options.onReload?.({ expiry: checked.expiry, source });
  }

  async #reloadFiles(files: FileSource): Promise<boolean> {
    files.signature = await signatureOf(files);
    try {
      const pair = await readPair(files.certPath, files.keyPath);
      if (pair.certPem === this.#pair.certPem && pair.keyPem === this.#pair.keyPem) return false;
      this.#install(pair, 'files');
      return true;
    } catch (err) {
      const message =
        `rejected the certificate in ${files.certPath}; still serving the one that expires ` +
        this.#expiry.toISOString();
      this.#options.onError?.(new Error(message, { cause: err }));
      return false;
    }
  }

  #startWatching(files: FileSource): void {
    if (this.#options.watchDirectory !== false) {
      for (const dir of new Set([dirname(files.certPath), dirname(files.keyPath)])) {
        this.#watchDirectory(files, dir);
      }
    }
    const period = this.#options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    if (period > 0) {
      files.pollTimer = setInterval(() => void this.#poll(files), period);
      files.pollTimer.unref();
    }
  }

  #watchDirectory(files: FileSource, dir: string): void {
    try {
      const watcher = watch(dir, { persistent: false }, () => this.#debounce(files));
      // A watch can die (folder removed, inotify limits); the poll still notices changes.
      watcher.on('error', (err) => {
        watcher.close();
        this.#options.onError?.(new Error(`stopped watching ${dir}`, { cause: err }));
      });
      files.watchers.push(watcher);
    } catch (err) {
      this.#options.onError?.(new Error(`cannot watch ${dir}; polling only`, { cause: err }));
    }
  }

  #debounce(files: FileSource): void {
    clearTimeout(files.debounceTimer);
    files.debounceTimer = setTimeout(() => void this.reload(), this.#options.debounceMs ?? 100);
    files.debounceTimer.unref();
  }

  async #poll(files: FileSource): Promise<void> {
    if (this.#files !== files) return;
    if ((await signatureOf(files)) !== files.signature) await this.reload();
  }
}

function prepare(pair: CertificatePair): { context: SecureContext; expiry: Date } {
  const cert = checkPair(pair);
  const context = createSecureContext({
    cert: pair.certPem,
    key: pair.keyPem,
    minVersion: TLS_MIN_VERSION,
  });
  return { context, expiry: new Date(cert.validTo) };
}

async function readPair(certPath: string, keyPath: string): Promise<CertificatePair> {
  try {
    const [certPem, keyPem] = await Promise.all([
      readFile(certPath, 'utf8'),
      readFile(keyPath, 'utf8'),
    ]);
    return { certPem, keyPem };
  } catch (err) {
    throw new Error(`cannot read ${certPath} and ${keyPath}`, { cause: err });
  }
}

// stat follows symlinks, so a `..data` swap changes the inode seen through `tls.crt`.
async function signatureOf(files: FileSource): Promise<string> {
  const parts = await Promise.all(
    [files.certPath, files.keyPath].map(async (path) => {
      try {
        const s = await stat(path);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    }),
  );
  return parts.join('|');
}
