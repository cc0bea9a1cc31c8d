import { describe, expect, it } from 'vitest';
import {
  failureText,
  resolveServeOptions,
  UsageError,
  type ServeOptions,
} from '../src/cli/serve.js';
import { ConfigError } from '../src/config/load.js';

describe('resolveServeOptions: flags, then PHI_GUARD_* variables, then defaults', () => {
  it.each([
    ['nothing given', {}, {}, { port: undefined, configPath: undefined, selfManagedCerts: false }],
    [
      'flags only',
      { port: '9443', config: 'a.yaml', logLevel: 'debug' },
      {},
      { port: 9443, configPath: 'a.yaml', logLevel: 'debug' },
    ],
    [
      'environment only',
      {},
      {
        PHI_GUARD_PORT: '7443',
        PHI_GUARD_METRICS_PORT: '0',
        PHI_GUARD_TLS_CERT: '/c',
        PHI_GUARD_TLS_KEY: '/k',
      },
      { port: 7443, metricsPort: 0, tlsCertFile: '/c', tlsKeyFile: '/k' },
    ],
    ['flag and variable both set', { port: 1 }, { PHI_GUARD_PORT: '2' }, { port: 1 }],
    [
      'variable set to ""',
      {},
      { PHI_GUARD_CONFIG: '', PHI_GUARD_LOG_LEVEL: '' },
      { configPath: undefined, logLevel: undefined },
    ],
    [
      'self-managed from the environment',
      {},
      { PHI_GUARD_SELF_MANAGED_CERTS: 'true' },
      { selfManagedCerts: true },
    ],
    [
      'self-managed flag',
      { selfManagedCerts: true },
      { PHI_GUARD_SELF_MANAGED_CERTS: 'false' },
      { selfManagedCerts: true },
    ],
    [
      'durations and body limit',
      { shutdownDelayMs: '0', drainTimeoutMs: 3000 },
      { PHI_GUARD_MAX_BODY_BYTES: '8388608' },
      { shutdownDelayMs: 0, drainTimeoutMs: 3000, maxBodyBytes: 8388608 },
    ],
  ])('%s', (_state, flags: ServeOptions, env, expected) => {
    expect(resolveServeOptions(flags, env)).toMatchObject(expected);
  });

  it.each([
    [
      '--port is a word',
      { port: 'https' },
      {},
      '--port must be an integer from 0 to 65535, got "https"',
    ],
    [
      '--port is too large',
      { port: 70000 },
      {},
      '--port must be an integer from 0 to 65535, got 70000',
    ],
    [
      'PHI_GUARD_METRICS_PORT is negative',
      {},
      { PHI_GUARD_METRICS_PORT: '-1' },
      'PHI_GUARD_METRICS_PORT must be an integer from 0 to 65535',
    ],
    [
      '--log-level is loud',
      { logLevel: 'loud' },
      {},
      '--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [
      'PHI_GUARD_SELF_MANAGED_CERTS is maybe',
      {},
      { PHI_GUARD_SELF_MANAGED_CERTS: 'maybe' },
      'PHI_GUARD_SELF_MANAGED_CERTS must be true or false',
    ],
    [
      '--max-body-bytes is 10',
      { maxBodyBytes: '10' },
      {},
      '--max-body-bytes must be an integer from 1024 to 1073741824, got "10"',
    ],
  ])(
    '%s: a UsageError naming it (values from the environment are not echoed)',
    (_state, flags: ServeOptions, env, message) => {
      let error: unknown;
      try {
        resolveServeOptions(flags, env);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(message);
    },
  );
});

describe('failureText', () => {
  it.each([
    [
      'a ConfigError lists its issues',
      new ConfigError('c.yaml', ['policies.x: unknown policy']),
      'phi-guard: invalid config c.yaml:\n  policies.x: unknown policy',
    ],
    [
      'an error with causes names each',
      new Error('cannot listen on port 8443', { cause: new Error('listen EADDRINUSE') }),
      'phi-guard: cannot start: cannot listen on port 8443: listen EADDRINUSE',
    ],
    [
      'a multi-line message keeps its first line',
      new Error('first\n    at somewhere (x.js:1:1)'),
      'phi-guard: cannot start: first',
    ],
  ])('%s', (_state, err, text) => {
    expect(failureText(err, 'cannot start')).toBe(text);
  });
});
