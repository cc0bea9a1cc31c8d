/**
 * The Dockerfile's structure, checked without Docker (which cannot run here): a multi-stage build
 * on one Node LTS major, production dependencies only at run time, a numeric non-root user, no
 * shell needed, no HEALTHCHECK, and the built CLI as an exec-form ENTRYPOINT.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, render } from './fixtures/kustomize.js';

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const LTS_MAJORS = ['22', '24'];

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  image: string;
  name: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (comments dropped, continuations joined). */
function stagesOf(text: string): Stage[] {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
    if (keyword.toUpperCase() === 'FROM' && from) {
      stages.push({ image: from[1]!, name: from[2] ?? String(stages.length), instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

function nodeMajor(image: string): string | undefined {
  return /^node:(\d+)[-.]/.exec(image)?.[1] ?? /\/nodejs(\d+)-/.exec(image)?.[1];
}

function argsOf(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** What is wrong with a Dockerfile, as sentences; empty when nothing is. */
function dockerfileProblems(text: string): string[] {
  const stages = stagesOf(text);
  const final = stages.at(-1);
  if (!final || stages.length < 2) return ['not a multi-stage build'];
  const problems: string[] = [];

  const majors = new Set(stages.map((s) => nodeMajor(s.image)));
  if (majors.size !== 1 || !LTS_MAJORS.includes([...majors][0] ?? '')) {
    problems.push(
      `stages use Node majors ${[...majors].join(', ')}, not one of ${LTS_MAJORS.join(', ')}`,
    );
  }
  if (stages.some((s) => argsOf(s, 'HEALTHCHECK').length > 0)) problems.push('has a HEALTHCHECK');
  if (argsOf(final, 'RUN').length > 0) problems.push('the runtime stage runs a shell command');

  const user = argsOf(final, 'USER').at(-1) ?? '';
  if (!/^[1-9]\d*(:\d+)?$/.test(user))
    problems.push(`runtime USER "${user}" is not a numeric non-root uid`);

  problems.push(...entrypointProblems(argsOf(final, 'ENTRYPOINT').at(-1)));
  problems.push(...dependencyProblems(stages, final));
  return problems;
}

function entrypointProblems(entrypoint: string | undefined): string[] {
  let argv: unknown;
  try {
    argv = JSON.parse(entrypoint ?? '');
  } catch {
    return [`ENTRYPOINT ${entrypoint ?? '(none)'} is not in exec form`];
  }
  if (
    !Array.isArray(argv) ||
    !/(^|\/)node$/.test(String(argv[0])) ||
    argv.at(-1) !== 'dist/src/cli.js'
  ) {
    return [`ENTRYPOINT ${entrypoint} does not run node dist/src/cli.js`];
  }
  return [];
}

function dependencyProblems(stages: Stage[], final: Stage): string[] {
  const problems: string[] = [];
  const prodStage = stages.find((s) =>
    argsOf(s, 'RUN').some((r) => /\bnpm ci\b.*--omit=dev/.test(r)),
  );
  if (!prodStage) return ['no stage installs production dependencies with npm ci --omit=dev'];
  const copies = argsOf(final, 'COPY');
  if (!copies.some((c) => c.includes(`--from=${prodStage.name}`) && c.includes('node_modules'))) {
    problems.push(`the runtime does not take node_modules from stage ${prodStage.name}`);
  }
  if (copies.some((c) => !c.includes('--from=') && /node_modules|\bsrc\b/.test(c))) {
    problems.push('the runtime copies node_modules or sources from the build context');
  }
  for (const path of ['dist/src', 'dist/policies']) {
    if (!copies.some((c) => c.includes('--from=') && c.includes(path)))
      problems.push(`the runtime lacks ${path}`);
  }
  return problems;
}

describe('Dockerfile', () => {
  it('has no problem', () => {
    expect(dockerfileProblems(DOCKERFILE)).toEqual([]);
  });

  it('builds with the dev dependencies and compiles in its own stage', () => {
    const build = stagesOf(DOCKERFILE)[0]!;
    const runs = argsOf(build, 'RUN');
    expect(runs.some((r) => /^npm ci\b/.test(r) && !r.includes('--omit=dev'))).toBe(true);
    expect(runs.some((r) => /tsc -p tsconfig\.json|npm run build/.test(r))).toBe(true);
  });

  it('runs "serve" by default, as the uid the Deployment declares', () => {
    const final = stagesOf(DOCKERFILE).at(-1)!;
    expect(JSON.parse(argsOf(final, 'CMD').at(-1)!)).toEqual(['serve']);
    const deployment = render('base').find((o) => o.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { securityContext: { runAsUser: number; runAsGroup: number } } } };
    };
    const { runAsUser, runAsGroup } = deployment.spec.template.spec.securityContext;
    expect(argsOf(final, 'USER').at(-1)).toBe(`${runAsUser}:${runAsGroup}`);
  });

  it('is the Node major that .ci/run tests on', () => {
    const major = nodeMajor(stagesOf(DOCKERFILE).at(-1)!.image);
    expect(readFileSync(join(REPO_ROOT, '.ci/run'), 'utf8')).toContain(`IMAGE_NODE_MAJOR=${major}`);
  });

  const shipped = DOCKERFILE;
  it.each([
    [
      'the ENTRYPOINT is in shell form',
      shipped.replace(/^ENTRYPOINT .*$/m, 'ENTRYPOINT node dist/src/cli.js'),
      'not in exec form',
    ],
    [
      'the runtime user is root',
      shipped.replace(/^USER .*$/m, 'USER root'),
      'not a numeric non-root uid',
    ],
    [
      'the runtime user is uid 0',
      shipped.replace(/^USER .*$/m, 'USER 0:0'),
      'not a numeric non-root uid',
    ],
    [
      'a HEALTHCHECK is declared',
      `${shipped}\nHEALTHCHECK CMD ["/nodejs/bin/node", "-e", "1"]\n`,
      'has a HEALTHCHECK',
    ],
    ['the runtime stage runs a command', `${shipped}\nRUN echo hi\n`, 'runs a shell command'],
    [
      'a stage is on Node 20',
      shipped.replace('node:24-bookworm-slim AS deps', 'node:20-bookworm-slim AS deps'),
      'Node majors',
    ],
    [
      'dev dependencies are installed for the runtime',
      shipped.replace('npm ci --omit=dev', 'npm ci'),
      '--omit=dev',
    ],
  ])('a Dockerfile where %s is refused', (_state, text, problem) => {
    expect(dockerfileProblems(text).join('\n')).toContain(problem);
  });
});

describe('.dockerignore', () => {
  const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it.each(['node_modules', 'dist', '.git', '.phi-guard', 'coverage'])(
    'keeps %s out of the build context',
    (path) => {
      expect(ignored).toContain(path);
    },
  );

  it('keeps what the build needs', () => {
    for (const needed of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'src',
      'policies',
    ]) {
      expect(ignored).not.toContain(needed);
    }
  });

  it('the package.json it ships marks the code as ES modules', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      type?: string;
    };
    expect(pkg.type).toBe('module');
  });
});
