/**
 * The shape of phi-guard's config file, validated with zod at load time.
 *
 * ```yaml
 * excludedNamespaces: [kube-system, kube-public, kube-node-lease, phi-guard]
 * policies:
 *   pod-security:
 *     mode: enforce            # enforce | warn | audit | off
 *     namespaces: { include: ["*"], exclude: ["sandbox-*"] }
 *     kinds: [Pod, Deployment] # optional: narrows the policy's own kinds
 *     params: {}               # the policy's parameters (see its file in policies/)
 * exceptions:
 *   - name: legacy-billing-db
 *     policies: [pod-security]
 *     namespace: billing
 *     kind: StatefulSet
 *     objectName: "legacy-*"
 *     reason: "vendor image runs as root; ticket SEC-123"
 *     expires: 2027-03-31
 * ```
 * Per-policy `params` are checked against each policy's own schema by `loadConfig`.
 */
import { z } from 'zod';
import { MODES } from '../engine/policy.js';

const glob = z.string().min(1, 'must not be empty');

/** Namespace scope of a policy: globs, `*` matches any run of characters. */
export const NamespaceScopeSchema = z
  .object({
    include: z.array(glob).default(['*']),
    exclude: z.array(glob).default([]),
  })
  .strict();

/** Settings of one policy. */
export const PolicySettingsSchema = z
  .object({
    mode: z.enum(MODES).optional(),
    namespaces: NamespaceScopeSchema.default({ include: ['*'], exclude: [] }),
    kinds: z.array(z.string().min(1)).optional(),
    params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

// An expiry is a calendar day (valid through its end, UTC) or a full timestamp. YAML may hand
// over a Date already (an unquoted 2027-03-31). `new Date('2027-02-30')` rolls over to March,
// so a day is checked by writing it back.
const isoDate = z.union([z.string(), z.date()]).transform((v, ctx) => {
  const day = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v);
  const d = v instanceof Date ? v : new Date(day ? `${v}T23:59:59Z` : v);
  if (Number.isNaN(d.getTime()) || (day && d.toISOString().slice(0, 10) !== v)) {
    ctx.addIssue({ code: 'custom', message: `"${String(v)}" is not a date (use YYYY-MM-DD)` });
    return z.NEVER;
  }
  return d;
});

/** An exception: lets matching objects through one or more policies until it expires. */
export const ExceptionSchema = z
  .object({
    name: z.string().min(1),
    policies: z.array(z.string().min(1)).min(1),
    namespace: glob.default('*'),
    kind: glob.default('*'),
    objectName: glob.default('*'),
    reason: z.string().min(1, 'say why the exception exists'),
    expires: isoDate,
  })
  .strict();

/** The whole config file. */
export const ConfigSchema = z
  .object({
    excludedNamespaces: z
      .array(glob)
      .default(['kube-system', 'kube-public', 'kube-node-lease', 'phi-guard']),
    policies: z.record(z.string(), PolicySettingsSchema).default({}),
    exceptions: z.array(ExceptionSchema).default([]),
  })
  .strict();

/** The config file as written (before defaults). */
export type ConfigInput = z.input<typeof ConfigSchema>;
/** An exception after validation. */
export type PolicyException = z.infer<typeof ExceptionSchema>;
/** Policy settings after validation, with the policy's params parsed by its own schema. */
export interface ResolvedPolicySettings {
  mode: (typeof MODES)[number];
  namespaces: { include: string[]; exclude: string[] };
  kinds: string[] | undefined;
  params: unknown;
}
/** A loaded, validated config with every built-in policy resolved. */
export interface Config {
  excludedNamespaces: string[];
  policies: Record<string, ResolvedPolicySettings>;
  exceptions: PolicyException[];
}
