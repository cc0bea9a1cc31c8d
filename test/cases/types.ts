/**
 * Table-driven policy cases. Each policy's cases live in `test/cases/<policy-id>.ts` as data, so
 * that the same table runs through the engine, through the HTTPS server and through
 * `phi-guard check` (test/policy-cases*.test.ts).
 */
import type { AdmissionInput } from '../../src/engine/engine.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { KubeObject } from '../../src/engine/policy.js';

/** What a case expects of the validating webhook. */
export type Expectation = 'allowed' | 'denied' | 'warned' | 'audited' | 'excepted';

/** One named case: an input state, a config, and what must happen. */
export interface PolicyCase {
  /** Named after the input state: "container sets runAsUser 0". */
  name: string;
  /** The policy under test; every other policy is off. */
  policy: string;
  /** Config for the run (the policy's mode, params, exceptions); built-in defaults otherwise. */
  config?: ConfigInput;
  object: KubeObject | undefined;
  /** Request fields other than the object (operation, userInfo, oldObject, subResource...). */
  request?: Partial<AdmissionInput>;
  expect: Expectation;
  /** Finding reasons the policy must report (all of them, in any order). */
  reasons?: string[];
  /** Substrings the denial or warning text must contain. */
  messageIncludes?: string[];
  /**
   * False when the case cannot be expressed as a file for `phi-guard check` (it needs an
   * UPDATE, a subresource, CONNECT, or a cluster where mutation did not run...). A CREATE by a
   * given user runs offline as `check --as USER --as-group GROUP`. True by default.
   */
  offline?: boolean;
}
