/**
 * Agreement with the Kyverno policy library's own tests, for the Kyverno policies that have a
 * counterpart among no-plaintext-credentials, gitops-secrets and gitops-only.
 *
 * Data: ../shared/conformance/kyverno-policies (README.md, expectations.csv), used in place.
 *
 * Counterparts, judged one by one:
 * - `block-updates-deletes` ↔ gitops-only. Both refuse changes to protected objects except by a
 *   privileged identity. Mapping: "protected" (label `protected=true` on the object, new or old)
 *   becomes "the namespace is GitOps-managed" (the `namespaces` param names it for that request);
 *   "holds ClusterRole cluster-admin" becomes "member of a break-glass group", with
 *   `breakGlassGroups` set to the group kind's admin kubeconfig carries (`kubeadm:cluster-admins`).
 *   The Kyverno CLI rows come from expectations.csv (operation from values.yaml; a resource
 *   without one is Kyverno's background scan, sent here as the CREATE that brought it). The
 *   Chainsaw scenario is read from chainsaw-test.yaml: each `kubectl create|apply|delete` in its
 *   scripts, who runs it (`--context=blocksvcuser-context` or the admin), and whether it must fail.
 * - `disallow-secrets-from-env-vars` is NOT a counterpart: it forbids `secretKeyRef` and
 *   `envFrom.secretRef`, which is exactly what no-plaintext-credentials asks for instead of
 *   literals. Its resources serve only as false-positive probes: no-plaintext-credentials must
 *   admit every one of them (they hold references, never values).
 * - No other policy of the set touches Secrets, credentials or who may change what.
 *
 * Where phi-guard differs on purpose, the row is listed in DELIBERATE with its reason and must
 * still differ, so that the list cannot go stale; every other row must agree.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { AdmissionInput } from '../src/engine/engine.js';
import type { KubeObject, Operation, UserInfo } from '../src/engine/policy.js';
import { isRecord } from '../src/engine/paths.js';
import { engineWith, makeInput } from './fixtures/admission.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIR = resolve(REPO_ROOT, '../shared/conformance/kyverno-policies');
const CSV = join(DIR, 'expectations.csv');
const BLOCK = join(DIR, 'block-updates-deletes');
const SECRETS_FROM_ENV = join(DIR, 'disallow-secrets-from-env-vars');

const GITOPS_ONLY = 'gitops-only';
const NO_PLAINTEXT = 'no-plaintext-credentials';

/** The non-admin user of the Chainsaw test (its CSR subject is `/O=testorg/CN=blocksvcuser`). */
const BLOCKSVCUSER: UserInfo = {
  username: 'blocksvcuser',
  groups: ['testorg', 'system:authenticated'],
};
/** kind's admin kubeconfig: bound to cluster-admin through this group (kubeadm 1.29+). */
const ADMIN: UserInfo = {
  username: 'kubernetes-admin',
  groups: ['kubeadm:cluster-admins', 'system:authenticated'],
};
/** The Kyverno CLI evaluates without a user; here, someone without cluster-admin. */
const CLI_USER: UserInfo = { username: 'kyverno-cli', groups: ['system:authenticated'] };

const CREATION_TOO =
  'Kyverno blocks only UPDATE and DELETE; gitops-only also refuses creating objects outside Git ' +
  'in a managed namespace, since that is drift as much as a change is';

/** Rows where phi-guard differs on purpose: row id → one-line reason. */
const DELIBERATE: Record<string, string> = {
  'kyverno-cli Service my-service-1 (background scan, sent as CREATE)': CREATION_TOO,
  'chainsaw blocksvcuser CREATE Service block-updates-deletes-ns/svc02': CREATION_TOO,
};

/** One admission request of a scenario and what Kyverno's test expects of it. */
interface Step {
  id: string;
  input: AdmissionInput;
  /** The object whose `protected` label decides whether the namespace counts as managed. */
  judged: KubeObject;
  expectRefused: boolean;
}

function docsOf(path: string): KubeObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as unknown)
    .filter((d): d is KubeObject => isRecord(d) && typeof d.kind === 'string');
}

function nameOf(object: KubeObject): string {
  return String((object.metadata as { name?: string } | undefined)?.name ?? '');
}

function isProtected(object: KubeObject | undefined): boolean {
  const labels = (object?.metadata as { labels?: Record<string, string> } | undefined)?.labels;
  return labels?.protected === 'true';
}

function csvRows(policyDir: string): Array<Record<string, string>> {
  const [header, ...lines] = readFileSync(CSV, 'utf8').trim().split('\n');
  const columns = (header ?? '').split(',');
  return lines
    .map((line) => Object.fromEntries(line.split(',').map((cell, i) => [columns[i] ?? '', cell])))
    .filter((row) => row.policy_dir === policyDir);
}

// ---- block-updates-deletes: the Kyverno CLI test ------------------------------------------------

function operationsFromValues(): Map<string, Operation> {
  const values = parse(readFileSync(join(BLOCK, 'kyverno-test/values.yaml'), 'utf8')) as {
    policies?: Array<{ resources?: Array<{ name: string; values?: Record<string, string> }> }>;
  };
  const ops = new Map<string, Operation>();
  for (const p of values.policies ?? []) {
    for (const r of p.resources ?? []) {
      const op = r.values?.['request.operation'];
      if (op) ops.set(r.name, op as Operation);
    }
  }
  return ops;
}

function cliSteps(): Step[] {
  const resources = docsOf(join(BLOCK, 'kyverno-test/resource.yaml'));
  const ops = operationsFromValues();
  return csvRows('block-updates-deletes')
    .filter((row) => row.harness === 'kyverno-cli')
    .map((row) => {
      const object = resources.find((r) => r.kind === row.kind && nameOf(r) === row.name);
      if (!object) throw new Error(`kyverno-test/resource.yaml has no ${row.kind} ${row.name}`);
      const operation = ops.get(row.name ?? '');
      const input = makeInput(object, {
        operation: operation ?? 'CREATE',
        oldObject: operation === 'UPDATE' || operation === 'DELETE' ? object : undefined,
        object: operation === 'DELETE' ? undefined : object,
        userInfo: CLI_USER,
      });
      const how = operation ?? 'background scan, sent as CREATE';
      return {
        id: `kyverno-cli ${row.kind} ${row.name} (${how})`,
        input,
        judged: object,
        expectRefused: row.expected === 'fail',
      };
    });
}

// ---- block-updates-deletes: the Chainsaw scenario -----------------------------------------------

/** One `kubectl` command of a Chainsaw script. */
interface Command {
  verb: 'create' | 'apply' | 'delete';
  user: UserInfo;
  file?: string;
  name?: string;
  mustFail: boolean;
}

function commandsOf(chainsaw: unknown): Command[] {
  const steps = (
    chainsaw as { spec?: { steps?: Array<{ try?: Array<{ script?: { content?: string } }> }> } }
  ).spec?.steps;
  const scripts = (steps ?? [])
    .flatMap((s) => s.try ?? [])
    .flatMap((t) => (t.script?.content ? [t.script.content] : []));
  const commands: Command[] = [];
  for (const line of scripts.flatMap((s) => s.split('\n')).map((l) => l.trim())) {
    const match = /kubectl (create|apply|delete) (.*?)(?:;|$)/.exec(line);
    if (!match || !line.includes('-n block-updates-deletes-ns')) continue;
    const words = (match[2] as string).split(/\s+/);
    const flag = (name: string): string | undefined => words[words.indexOf(name) + 1];
    const positional = words.filter(
      (w, i) => !w.startsWith('-') && !['-n', '-f'].includes(words[i - 1] ?? ''),
    );
    commands.push({
      verb: match[1] as Command['verb'],
      user: words.includes('--context=blocksvcuser-context') ? BLOCKSVCUSER : ADMIN,
      file: words.includes('-f') ? flag('-f') : undefined,
      name: positional[1],
      mustFail: /^if kubectl .*then exit 1; else exit 0; fi$/.test(line),
    });
  }
  return commands;
}

/**
 * Client-side apply onto an object that `kubectl create` made (no last-applied annotation): the
 * manifest's fields are set and nothing is removed, since kubectl only prunes what the
 * annotation says it applied before.
 */
function applied(live: unknown, manifest: unknown): unknown {
  if (!isRecord(live) || !isRecord(manifest)) return manifest;
  const out: Record<string, unknown> = { ...live };
  for (const [k, v] of Object.entries(manifest)) out[k] = applied(live[k], v);
  return out;
}

function chainsawSteps(): Step[] {
  const dir = join(BLOCK, 'chainsaw-test');
  const live = new Map<string, KubeObject>();
  const steps: Step[] = [];
  for (const cmd of commandsOf(parse(readFileSync(join(dir, 'chainsaw-test.yaml'), 'utf8')))) {
    const objects = cmd.file
      ? docsOf(join(dir, cmd.file))
      : [live.get(cmd.name ?? '')!].filter(Boolean);
    for (const manifest of objects) {
      const old = live.get(nameOf(manifest));
      const operation: Operation =
        cmd.verb === 'delete' ? 'DELETE' : old && cmd.verb === 'apply' ? 'UPDATE' : 'CREATE';
      const object =
        operation === 'DELETE'
          ? undefined
          : operation === 'UPDATE'
            ? (applied(old, manifest) as KubeObject)
            : manifest;
      const input = makeInput(object, {
        operation,
        oldObject: operation === 'CREATE' ? undefined : old,
        userInfo: cmd.user,
      });
      steps.push({
        id: `chainsaw ${cmd.user.username} ${operation} ${input.kind} ${input.namespace}/${input.name}`,
        input,
        judged: object ?? (old as KubeObject),
        expectRefused: cmd.mustFail,
      });
      // The scenario goes on as it did under Kyverno, so that later steps meet the same objects.
      if (!cmd.mustFail) {
        if (operation === 'DELETE') live.delete(input.name);
        else live.set(input.name, object as KubeObject);
      }
    }
  }
  return steps;
}

/** The RBAC objects Chainsaw applies as the admin (cluster-scoped), from expectations.csv. */
function setupSteps(): Step[] {
  const dir = join(BLOCK, 'chainsaw-test');
  return csvRows('block-updates-deletes')
    .filter((row) => row.harness === 'chainsaw')
    .map((row) => {
      const object = docsOf(join(dir, (row.file ?? '').replace(/^chainsaw-test\//, ''))).find(
        (d) => d.kind === row.kind && nameOf(d) === row.name,
      );
      if (!object) throw new Error(`${row.file} has no ${row.kind} ${row.name}`);
      return {
        id: `chainsaw setup ${row.kind} ${row.name}`,
        input: makeInput(object, { userInfo: ADMIN }),
        judged: object,
        expectRefused: row.expected === 'reject',
      };
    });
}

async function refusedByGitopsOnly(
  step: Step,
  breakGlassGroups: string[],
): Promise<{ refused: boolean; notices: number }> {
  const isOld = isProtected(step.input.oldObject);
  const managed = isProtected(step.judged) || isOld ? [step.input.namespace || 'default'] : [];
  const params = { namespaces: managed, breakGlassGroups };
  const engine = await engineWith(
    { policies: { [GITOPS_ONLY]: { mode: 'enforce', params } } },
    { only: [GITOPS_ONLY] },
  );
  const d = await engine.evaluate(step.input, 'validate');
  return { refused: !d.allowed, notices: d.notices.length };
}

const exists = existsSync(CSV) && existsSync(BLOCK) && existsSync(SECRETS_FROM_ENV);
if (!exists)
  console.warn(
    `kyverno-conformance-b: skipped, ${DIR} (expectations.csv and policy folders) is missing`,
  );

describe.skipIf(!exists)(
  'Kyverno library conformance (gitops-only, no-plaintext-credentials)',
  () => {
    const tally = { agree: 0, differ: 0, probes: 0 };

    afterAll(() => {
      console.info(
        'Kyverno conformance, enforce mode:\n' +
          `  block-updates-deletes → gitops-only   agree ${tally.agree}, deliberately differ ${tally.differ}\n` +
          `  disallow-secrets-from-env-vars       not a counterpart; ${tally.probes} ` +
          `resources admitted by ${NO_PLAINTEXT}`,
      );
    });

    it('block-updates-deletes: every CLI row and Chainsaw command agrees or differs deliberately', async () => {
      const steps = [...cliSteps(), ...setupSteps(), ...chainsawSteps()];
      expect(steps.filter((s) => s.id.startsWith('kyverno-cli'))).toHaveLength(2);
      expect(
        steps.filter((s) => s.id.startsWith('chainsaw ') && !s.id.startsWith('chainsaw setup')),
      ).toHaveLength(7); // six commands; the first creates two Services

      const mismatches: string[] = [];
      for (const step of steps) {
        const { refused } = await refusedByGitopsOnly(step, ['kubeadm:cluster-admins']);
        const deliberate = DELIBERATE[step.id];
        if (deliberate) {
          tally.differ++;
          if (refused === step.expectRefused)
            mismatches.push(`${step.id}: listed as deliberate but agrees`);
        } else if (refused === step.expectRefused) {
          tally.agree++;
        } else {
          mismatches.push(
            `${step.id}: Kyverno ${step.expectRefused ? 'refuses' : 'admits'}, phi-guard does not`,
          );
        }
      }
      expect(mismatches).toEqual([]);
      expect(Object.keys(DELIBERATE).every((id) => steps.some((s) => s.id === id))).toBe(true);
    });

    it('block-updates-deletes: the admin acting on a protected object is on the record', async () => {
      const adminUpdate = chainsawSteps().find(
        (s) => s.input.userInfo === ADMIN && s.input.operation === 'UPDATE',
      );
      expect(adminUpdate).toBeDefined();
      const mapped = await refusedByGitopsOnly(adminUpdate!, ['kubeadm:cluster-admins']);
      expect(mapped).toEqual({ refused: false, notices: 1 });
      // Deliberate: without that mapping, holding cluster-admin grants nothing in a managed
      // namespace, because roles are not in userInfo and every act outside Git must be recorded.
      expect((await refusedByGitopsOnly(adminUpdate!, ['phi-guard:break-glass'])).refused).toBe(
        true,
      );
    });

    it('disallow-secrets-from-env-vars resources (references only) pass no-plaintext-credentials', async () => {
      const engine = await engineWith(
        { policies: { [NO_PLAINTEXT]: { mode: 'enforce' } } },
        { only: [NO_PLAINTEXT] },
      );
      const rows = csvRows('disallow-secrets-from-env-vars');
      const files = [...new Set(rows.map((r) => r.file ?? ''))];
      const objects = files.flatMap((f) => docsOf(join(SECRETS_FROM_ENV, f)));
      expect(objects.length).toBe(new Set(rows.map((r) => `${r.file} ${r.kind} ${r.name}`)).size);

      const refused: string[] = [];
      for (const object of objects) {
        const d = await engine.evaluate(makeInput(object), 'validate');
        if (!d.allowed || d.results.length > 0)
          refused.push(`${String(object.kind)} ${nameOf(object)}`);
        tally.probes++;
      }
      expect(refused).toEqual([]);
    });
  },
);
