/**
 * Container image references, read the way container runtimes read them: the grammar of the
 * OCI distribution reference (github.com/distribution/reference, `regexp.go`) plus Docker's
 * normalisation of short names (`normalize.go`), so that `nginx` means
 * `docker.io/library/nginx` here exactly as it does on the node that pulls it.
 *
 * ```
 * reference       := name [ ":" tag ] [ "@" digest ]
 * name            := [ domain "/" ] path-component [ "/" path-component ]*
 * domain          := host [ ":" port ]           host: DNS name or "[" IPv6 "]"
 * path-component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 * tag             := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 * digest          := algorithm ":" hex           (sha256, sha384, sha512)
 * ```
 *
 * The first path component is a registry only when it contains `.` or `:`, is `localhost`, or
 * has an upper-case letter (`splitDockerDomain`); otherwise the registry is `docker.io`, and a
 * single-component Docker Hub name gets the `library/` prefix. `index.docker.io` is the legacy
 * spelling of `docker.io`.
 */

/** A parsed, normalised image reference. */
export interface ImageRef {
  /** Registry host, with its port when one is given, lower-cased: `docker.io`, `localhost:5000`. */
  registry: string;
  /** Repository path inside the registry: `library/nginx`, `acme/billing/api`. */
  repository: string;
  /** Tag when one is given (`1.27`); Docker pulls `latest` when neither tag nor digest is. */
  tag?: string;
  /** Digest when one is given (`sha256:…`); it pins the content whatever the tag says. */
  digest?: string;
}

/** Outcome of parseImageRef: the reference, or why it is not one. */
export type ImageRefResult = { ok: true; ref: ImageRef } | { ok: false; error: string };

/** Registry that Docker assumes for names without one. */
export const DEFAULT_REGISTRY = 'docker.io';
const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';

// distribution/reference: NameTotalLengthMax = 255 (registry + "/" + path); a tag is at most 128.
const NAME_MAX = 255;
// Not from the grammar: a cap so that regular expressions never run over unbounded input.
const REFERENCE_MAX = 4096;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const IMAGE_ID = /^[a-f0-9]{64}$/;
const DIGEST = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})$/;

// go-digest registers these three algorithms; each takes lower-case hex of a fixed length.
// Runtimes refuse any other algorithm (digest.ErrDigestUnsupported).
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Parses an image reference as a container runtime would.
 *
 * @example parseImageRef('nginx:1.27')
 *   // → { ok: true, ref: { registry: 'docker.io', repository: 'library/nginx', tag: '1.27' } }
 * @example parseImageRef('localhost:5000/app@sha256:…')
 *   // → registry 'localhost:5000', repository 'app', digest 'sha256:…'
 */
export function parseImageRef(reference: string): ImageRefResult {
  if (reference === '') return fail('the reference is empty');
  if (reference.length > REFERENCE_MAX)
    return fail(`the reference is longer than ${REFERENCE_MAX} characters`);
  if (IMAGE_ID.test(reference)) {
    return fail('a 64-character hex string is an image ID, not a reference a node can pull');
  }

  const { rest, digest } = splitDigest(reference);
  const { name, tag } = splitTag(rest);
  if (name === '') return fail('the reference has no repository name');
  const { domain, path } = splitDomain(name);

  const problem =
    checkDomain(domain) ??
    checkPath(path) ??
    (tag === undefined ? undefined : checkTag(tag)) ??
    (digest === undefined ? undefined : checkDigest(digest));
  if (problem !== undefined) return fail(problem);
  if (domain.length + 1 + path.length > NAME_MAX) {
    return fail(`the repository name is longer than ${NAME_MAX} characters`);
  }
  return { ok: true, ref: normalise(domain, path, tag, digest) };
}

/** `registry/repository[:tag][@digest]`, the fully qualified spelling of a parsed reference. */
export function formatImageRef(ref: ImageRef): string {
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`;
  return `${ref.registry}/${ref.repository}${tag}${digest}`;
}

function fail(error: string): ImageRefResult {
  return { ok: false, error };
}

// A name never contains "@", so the first one starts the digest.
function splitDigest(reference: string): { rest: string; digest?: string } {
  const at = reference.indexOf('@');
  if (at < 0) return { rest: reference };
  return { rest: reference.slice(0, at), digest: reference.slice(at + 1) };
}

// A ":" after the last "/" starts the tag; one before it belongs to a registry port.
function splitTag(rest: string): { name: string; tag?: string } {
  const colon = rest.lastIndexOf(':');
  if (colon < 0 || colon < rest.lastIndexOf('/')) return { name: rest };
  return { name: rest.slice(0, colon), tag: rest.slice(colon + 1) };
}

// distribution/reference normalize.go splitDockerDomain.
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const isRegistry =
    slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  if (!isRegistry) return { domain: DEFAULT_REGISTRY, path: name };
  return { domain: first, path: name.slice(slash + 1) };
}

function checkDomain(domain: string): string | undefined {
  if (DOMAIN.test(domain)) return undefined;
  return `registry "${domain}" is not a host name or [IPv6] address with an optional numeric port`;
}

function checkPath(path: string): string | undefined {
  if (path === '') return 'the reference has no repository path after the registry';
  for (const component of path.split('/')) {
    if (PATH_COMPONENT.test(component)) continue;
    if (PATH_COMPONENT.test(component.toLowerCase()))
      return `repository "${path}" must be lower-case`;
    const placeholder = /[$<>{}]/.test(component) ? ' (an unrendered template placeholder?)' : '';
    return (
      `repository path component "${component}" is not valid${placeholder}: use lower-case ` +
      'letters and digits, separated by ".", "_", "__" or dashes, and no empty components'
    );
  }
  return undefined;
}

function checkTag(tag: string): string | undefined {
  if (TAG.test(tag)) return undefined;
  const placeholder = /[$<>{}]/.test(tag) ? ' (an unrendered template placeholder?)' : '';
  return (
    `tag "${tag}" is not valid${placeholder}: 1 to 128 letters, digits, "_", "." or "-", ` +
    'not starting with "." or "-"'
  );
}

function checkDigest(digest: string): string | undefined {
  const m = DIGEST.exec(digest);
  if (!m)
    return `digest "${digest}" is not of the form <algorithm>:<hex>, e.g. sha256:<64 hex digits>`;
  const [, algorithm, hex] = m as unknown as [string, string, string];
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) {
    return `digest algorithm "${algorithm}" is not supported (use sha256, sha384 or sha512)`;
  }
  if (hex.length !== length || hex !== hex.toLowerCase()) {
    return `a ${algorithm} digest must be ${length} lower-case hex digits`;
  }
  return undefined;
}

function normalise(domain: string, path: string, tag?: string, digest?: string): ImageRef {
  // Host names compare case-insensitively (RFC 4343), so the registry is kept lower-case.
  let registry = domain.toLowerCase();
  if (registry === LEGACY_DEFAULT_REGISTRY) registry = DEFAULT_REGISTRY;
  const repository =
    registry === DEFAULT_REGISTRY && !path.includes('/') ? OFFICIAL_REPO_PREFIX + path : path;
  const ref: ImageRef = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}
