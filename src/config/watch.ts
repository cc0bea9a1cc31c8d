/**
 * Reloading the config file when it changes on disk, without a restart.
 *
 * In a cluster the file is a ConfigMap volume: the kubelet writes a new timestamped folder and
 * swaps the `..data` symlink to it (kubernetes pkg/volume/util/atomic_writer.go). A watch set on
 * the file follows the old inode, which is never written again, so it reports nothing. The watch
 * is therefore on the file's folder, and a periodic stat backs it up where watch events are lost
 * (network or overlay filesystems, inotify limits). A change is acted on only when the content
 * differs.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Policy } from '../engine/policy.js';
import { ConfigError, loadConfig } from './load.js';
import type { Config } from './schema.js';

/** Default period of the read poll that backs up directory watching. */
export const DEFAULT_CONFIG_POLL_MS = 5_000;
/** Default quiet time after a watch event: an editor's or kubelet's burst of writes reads once. */
export const DEFAULT_CONFIG_DEBOUNCE_MS = 200;

/** What a check found. */
export type ReloadResult = 'unchanged' | 'success' | 'failure';

/** Options of {@link watchConfig}. */
export interface ConfigWatchOptions {
  /** The config file (as given; a symlink is followed). */
  path: string;
  registry: ReadonlyMap<string, Policy>;
  /** A valid new config was loaded: put it in use. */
  onReload: (config: Config) => void;
  /** The changed file is not a valid config (the last good one stays in use). */
  onReject: (error: ConfigError) => void;
  /** Reports a watch that failed (polling continues). */
  onWatchError?: (err: Error) => void;
  /** Poll period in ms; 0 turns polling off. */
  pollIntervalMs?: number;
  /** Watch the file's folder (default true); the poll runs regardless. */
  watchDirectory?: boolean;
  debounceMs?: number;
}

/** A running watch. */
export interface ConfigWatch {
  /** Checks the file now (also what watch events and the poll do). */
  check(): ReloadResult;
  close(): void;
}

/**
 * Loads the config at `path` and watches it; throws a ConfigError when the file is not a valid
 * config at start, so that the caller can refuse to start.
 */
export function loadAndWatchConfig(options: ConfigWatchOptions): {
  config: Config;
  watch: ConfigWatch;
} {
  const digest = digestOf(options.path);
  const config = loadConfig(options.path, options.registry);
  return { config, watch: watchConfig(options, digest) };
}

/** Watches the config at `path`, whose current content has digest `digest`. */
export function watchConfig(options: ConfigWatchOptions, digest: string | undefined): ConfigWatch {
  let last = digest;
  let debounce: NodeJS.Timeout | undefined;
  const onEvent = () => {
    clearTimeout(debounce);
    debounce = setTimeout(check, options.debounceMs ?? DEFAULT_CONFIG_DEBOUNCE_MS);
    debounce.unref();
  };
  const watcher = options.watchDirectory === false ? undefined : watchFolder(options, onEvent);
  let seen = statSignature(options.path);
  const period = options.pollIntervalMs ?? DEFAULT_CONFIG_POLL_MS;
  const poll =
    period > 0
      ? setInterval(() => {
          const now = statSignature(options.path);
          if (now !== seen) check();
          seen = now;
        }, period).unref()
      : undefined;

  // A plain in-place write read half-way is loaded as it is if it parses; the write's next event
  // (or the next poll) sees another digest and loads the whole file.
  function check(): ReloadResult {
    const now = digestOf(options.path);
    if (now === last) return 'unchanged';
    last = now;
    try {
      options.onReload(loadConfig(options.path, options.registry));
      return 'success';
    } catch (err) {
      options.onReject(
        err instanceof ConfigError
          ? err
          : new ConfigError(options.path, ['cannot load'], { cause: err }),
      );
      return 'failure';
    }
  }

  return {
    check,
    close() {
      watcher?.close();
      clearTimeout(debounce);
      clearInterval(poll);
    },
  };
}

function watchFolder(options: ConfigWatchOptions, onEvent: () => void): FSWatcher | undefined {
  const dir = dirname(options.path);
  try {
    const watcher = watch(dir, { persistent: false }, onEvent);
    watcher.on('error', (err) => {
      watcher.close();
      options.onWatchError?.(new Error(`stopped watching ${dir}; polling only`, { cause: err }));
    });
    return watcher;
  } catch (err) {
    options.onWatchError?.(new Error(`cannot watch ${dir}; polling only`, { cause: err }));
    return undefined;
  }
}

// stat follows symlinks, so a `..data` swap shows as another inode behind the same path.
function statSignature(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return 'missing';
  }
}

// A missing or unreadable file has no digest; it differs from any content, so a file that
// disappears is reported (as a failed reload) and one that comes back is loaded again.
function digestOf(path: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return undefined;
  }
}
