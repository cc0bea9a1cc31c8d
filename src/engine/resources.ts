/**
 * Resource names of kinds, shared by the offline commands (which build the request an object
 * would make) and the engine (which names the object a subresource request acts on).
 */

// Resources whose plural is not the regular one (apimachinery's UnsafeGuessKindToResource adds
// "es" after an s, "ies" for a y, "s" otherwise; Endpoints is registered under its own name).
const IRREGULAR_RESOURCES: Readonly<Record<string, string>> = { Endpoints: 'endpoints' };

/** Lower-case plural resource name of a kind, as apimachinery guesses it. */
export function resourceOf(kind: string): string {
  const irregular = IRREGULAR_RESOURCES[kind];
  if (irregular) return irregular;
  const singular = kind.toLowerCase();
  if (singular.endsWith('s')) return `${singular}es`;
  if (singular.endsWith('y')) return `${singular.slice(0, -1)}ies`;
  return `${singular}s`;
}
