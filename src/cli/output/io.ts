/**
 * Where the offline commands write, and the exit codes they return, in one place so that the
 * in-process tests and the built binary see the same thing.
 */

/** Exit codes of `phi-guard check` and `phi-guard mutate` (and of usage errors). */
export const EXIT_CODES = {
  /** Everything read, nothing denied by an enforce-mode policy. */
  ok: 0,
  /** At least one object would be denied: an enforce-mode violation, or a policy that failed. */
  violations: 1,
  /** Input not judged: missing or unreadable path, invalid YAML, bad config or usage. */
  unreadable: 2,
} as const;

/** One of EXIT_CODES. */
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** Output sinks of a command: the report on `out`, diagnostics about the run itself on `err`. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** Writes to the process's stdout and stderr. */
export const PROCESS_IO: CliIo = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

/** Collects output in memory, for tests and for callers that render it elsewhere. */
export function memoryIo(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t) };
}
