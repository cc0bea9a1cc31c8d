#!/usr/bin/env node
/**
 * The `phi-guard` command: `serve` (the default), `check`, `mutate`, `certs`.
 *
 * Errors end as one line on stderr (a bad config as its list of issues), never a stack trace,
 * with exit code 2; `check` alone uses 1, for enforce-mode violations (output/io.ts).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from './config/load.js';
import { OUTPUT_FORMATS, configErrorText, runCheck, type OutputFormat } from './cli/check.js';
import { MUTATE_FORMATS, runMutate, type MutateFormat } from './cli/mutate.js';
import { DEFAULT_CERT_DIR, commaList, runCerts } from './cli/certs.js';
import type { ServeOptions } from './cli/serve.js';
import { EXIT_CODES, PROCESS_IO, type CliIo } from './cli/output/io.js';

const CHECK_EXIT_CODES = `
Exit codes:
  0  every object would be admitted (warn- and audit-mode findings do not fail)
  1  an enforce-mode policy would deny at least one object
  2  some input could not be judged: a missing or unreadable path, invalid YAML (unless
     --skip-unparsable), an invalid config, or bad usage; 2 wins over 1`;

/** Builds the command tree; `done` receives the exit code of the command that ran. */
export function buildProgram(io: CliIo, done: (code: number) => void): Command {
  const program = new Command('phi-guard')
    .description('Kubernetes admission webhook for clusters that hold protected health information')
    .version(packageVersion(), '-V, --version')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  addServe(program);
  addCheck(program, io, done);
  addMutate(program, io, done);
  addCerts(program, io, done);
  return program;
}

// Values stay strings: runServe checks them, merges the PHI_GUARD_* environment variables
// (flags win) and names the offending flag or variable (src/cli/serve.ts).
function addServe(program: Command): void {
  program
    .command('serve')
    .description('run the admission webhook server (the default command)')
    .option(
      '--port <port>',
      'HTTPS port of /mutate, /validate, /healthz, /readyz (default 8443; 0: any free)',
    )
    .option('--metrics-port <port>', 'plain-HTTP port of /metrics (default 9090)')
    .option('--host <address>', 'address to listen on (default: all interfaces)')
    .option(
      '--tls-cert <file>',
      'PEM serving certificate, e.g. tls.crt mounted by cert-manager (needs --tls-key)',
    )
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option(
      '--cert-dir <dir>',
      'folder of the development CA and certificate used without --tls-cert',
    )
    .option(
      '-c, --config <file>',
      'policy config file, reloaded on change (default: built-in defaults)',
    )
    .option(
      '--log-level <level>',
      'fatal, error, warn, info, debug, trace or silent (default info)',
    )
    .option(
      '--self-managed-certs',
      'in a cluster without certificate files: own CA, patch the caBundle',
    )
    .option(
      '--shutdown-delay-ms <ms>',
      'pause between readiness off and closing the listener (default 5000)',
    )
    .option(
      '--drain-timeout-ms <ms>',
      'time in-flight requests get after the listener closed (default 20000)',
    )
    .option('--max-body-bytes <bytes>', 'largest accepted request body (default 16 MiB)')
    .addHelpText(
      'after',
      '\nEvery flag also reads an environment variable, e.g. PHI_GUARD_PORT ' +
        '(see src/cli/serve.ts).',
    )
    .action(async (opts: ServeOptions) => {
      // Loaded on demand: the server's modules (express, the Kubernetes client) would add about a
      // second to every `check` run in CI.
      const { runServe } = await import('./cli/serve.js');
      await runServe(opts);
    });
}

function addCheck(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('check')
    .description('judge manifest files and folders with the webhook policies, offline')
    .argument(
      '[paths...]',
      'files and folders (folders are read recursively for .yaml, .yml, .json); - for stdin',
    )
    .option(
      '-c, --config <file>',
      'policy config file (default: built-in defaults); alone, only validates it',
    )
    .addOption(
      new Option('-o, --output <format>', 'report format').choices(OUTPUT_FORMATS).default('text'),
    )
    .option('--no-mutate', 'judge objects as written, without the mutating webhook defaults')
    .option(
      '--skip-unparsable',
      'report files that are not valid YAML (e.g. templates) without failing',
    )
    .option('-n, --namespace <name>', 'namespace of objects that name none', 'default')
    .option('--as <user>', 'judge as if this user applied the objects (e.g. a GitOps controller)')
    .option('--as-group <group>', 'a group of the --as user (repeatable)', collect, [])
    .addHelpText('after', CHECK_EXIT_CODES)
    .action(async (paths: string[], opts: CheckFlags) => {
      done(await runCheck({ paths, ...opts }, io));
    });
}

interface CheckFlags {
  config?: string;
  output: OutputFormat;
  mutate: boolean;
  skipUnparsable?: boolean;
  namespace: string;
  as?: string;
  asGroup?: string[];
}

// Repeatable flag: `--as-group a --as-group b`. (A variadic `<group...>` would also swallow the
// paths that follow it.)
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function addMutate(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('mutate')
    .description('print objects as the mutating webhook would leave them')
    .argument('<file>', 'manifest file (several documents and Lists allowed); - for stdin')
    .option('-c, --config <file>', 'policy config file (default: built-in defaults)')
    .addOption(
      new Option('-o, --output <format>', 'object format').choices(MUTATE_FORMATS).default('yaml'),
    )
    .option('--patch', 'print the JSON Patch (RFC 6902) instead of the objects')
    .option('-n, --namespace <name>', 'namespace of objects that name none', 'default')
    .action(
      async (
        file: string,
        opts: { config?: string; output: MutateFormat; patch?: boolean; namespace: string },
      ) => {
        done(await runMutate({ file, ...opts }, io));
      },
    );
}

function addCerts(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('certs')
    .description('write a development CA and serving certificate (localhost, 127.0.0.1, ::1)')
    .option('--out <dir>', 'folder for ca.crt, ca.key, tls.crt, tls.key', DEFAULT_CERT_DIR)
    .option('--dns-names <names>', 'extra DNS names, comma-separated', commaList)
    .option('--ip-addresses <ips>', 'extra IP addresses, comma-separated', commaList)
    .action(async (opts: { out: string; dnsNames?: string[]; ipAddresses?: string[] }) => {
      done(await runCerts(opts, io));
    });
}

/** Runs the CLI with `argv` (without `node` and the script) and resolves to its exit code. */
export async function main(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  let exitCode: number = EXIT_CODES.ok;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync(withDefaultCommand(argv), { from: 'user' });
    return exitCode;
  } catch (err) {
    return reportError(err, io);
  }
}

const TOP_LEVEL_FLAGS = ['-h', '--help', '-V', '--version'];

// `serve` is the default: no arguments, or flags only (`phi-guard --port 8443`). Commander's own
// default command would also take unknown words, and `phi-guard chek` would then complain about
// serve's arguments instead of naming the unknown command.
function withDefaultCommand(argv: readonly string[]): string[] {
  const first = argv[0];
  if (first === undefined) return ['serve'];
  if (first.startsWith('-') && !TOP_LEVEL_FLAGS.includes(first)) return ['serve', ...argv];
  return [...argv];
}

function reportError(err: unknown, io: CliIo): number {
  // Commander has already printed its own message (usage errors) or the help and version text.
  if (err instanceof CommanderError)
    return err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.unreadable;
  if (err instanceof ConfigError) io.err(configErrorText(err));
  else io.err(`phi-guard: ${oneLine(err)}`);
  return EXIT_CODES.unreadable;
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? 'unknown error';
}

/** Version from package.json, found beside `src/` (sources) or two levels up (`dist/src/`). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'phi-guard' && pkg.version) return pkg.version;
    } catch {
      // not here: look one folder up
    }
  }
  return '0.0.0-unknown';
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // exitCode rather than exit(): stdout is flushed first, and a running server keeps the process.
  void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
