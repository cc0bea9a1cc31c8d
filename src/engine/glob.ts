/** Shell-style globs for names: `*` matches any run of characters, `?` one character. */

const cache = new Map<string, RegExp>();

/** Compiles a glob to an anchored RegExp (cached: config globs are few and reused per request). */
export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (re === undefined) {
    const body = glob
      .split('')
      .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`);
    cache.set(glob, re);
  }
  return re;
}

/** True when `value` matches `glob`. */
export function globMatch(glob: string, value: string): boolean {
  return globToRegExp(glob).test(value);
}

/** True when `value` matches any of `globs`. */
export function matchesAny(globs: readonly string[], value: string): boolean {
  return globs.some((g) => globMatch(g, value));
}
