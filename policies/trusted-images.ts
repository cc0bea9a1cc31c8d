/**
 * trusted-images: images come from registries the platform trusts, by a tag that does not move.
 *
 * Reads every image a pod pulls: `image` of each container, init container and ephemeral
 * container, and `volumes[].image.reference` (OCI image volumes, KEP-4639), in Pods and in the
 * pod templates of every pod controller. `kubectl debug` (the `pods/ephemeralcontainers`
 * subresource) is judged too; containers the pod already had only warn there, as on any UPDATE.
 *
 * Each reference is parsed by the OCI distribution reference grammar (src/engine/image-ref.ts),
 * with Docker's short-name rules: `nginx` is `docker.io/library/nginx`.
 * - `allowedRegistries`: entries `host` or `host/repository`, both globs (`*` matches any run of
 *   characters, `/` included). The registry is compared with the parsed host (and port) as a
 *   whole, never as a string prefix, so `ghcr.io` does not admit `ghcr.io.evil.example/x`.
 *   Docker Hub official images are `docker.io/library/<name>`. Default: `registry.k8s.io` only —
 *   a healthcare platform lists its own registries (`123456789012.dkr.ecr.*.amazonaws.com`,
 *   `ghcr.io/your-org/*`); trusting all of `docker.io` or `ghcr.io` trusts anyone who can push.
 * - `denyLatest` (default true): the tag `latest`, or no tag and no digest (the node then pulls
 *   `latest`), is denied. A digest pins the content, so `app@sha256:…` and
 *   `app:latest@sha256:…` pass.
 * - `requireDigest`: in namespaces matching `namespaces` (globs), or whose labels match
 *   `namespaceLabel` (`key=value`, or `key` for "has the label"), every image needs a digest.
 *   Default: nowhere. Known limitation: the label half needs the namespace cache; without it
 *   only the `namespaces` globs apply, because phi-guard never calls the API server per request.
 *
 * Nothing is exempt by name. Unparsable references are denied with the grammar rule they break.
 *
 * HIPAA: 164.308(a)(5)(ii)(B) protection from malicious software; 164.312(c)(1) integrity.
 */
import { z } from 'zod';
import { definePolicy, type Finding, type PolicyContext } from '../src/engine/policy.js';
import { isRecord, toFieldPath, type Segment } from '../src/engine/paths.js';
import { containersOf, podSpecOf, POD_KINDS, type PodSpecView } from '../src/engine/pod-spec.js';
import { globMatch } from '../src/engine/glob.js';
import { parseImageRef, type ImageRef } from '../src/engine/image-ref.js';
import { namespaceLabelParam, namespaceSelected } from '../src/engine/namespace-selector.js';

const registryEntry = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => !s.startsWith('/'), 'must start with a registry host (e.g. ghcr.io/acme/*)');

const params = z
  .object({
    allowedRegistries: z.array(registryEntry).default(['registry.k8s.io']),
    denyLatest: z.boolean().default(true),
    requireDigest: z
      .object({
        namespaces: z.array(z.string().min(1)).default([]),
        namespaceLabel: namespaceLabelParam(''),
      })
      .strict()
      .default({ namespaces: [], namespaceLabel: '' }),
  })
  .strict();

type Params = z.infer<typeof params>;

/** One image a pod pulls, with what messages call it and where it sits. */
interface ImageSite {
  /** `container "app"`, `init container "migrate"`, `image volume "models"`. */
  who: string;
  path: Segment[];
  image: unknown;
}

const LIST_NAMES = {
  containers: 'container',
  initContainers: 'init container',
  ephemeralContainers: 'ephemeral container',
} as const;

export default definePolicy({
  id: 'trusted-images',
  title: 'Images from trusted registries, pinned by tag or digest',
  hipaa: ['164.308(a)(5)(ii)(B)', '164.312(c)(1)'],
  match: { kinds: POD_KINDS, subResources: ['ephemeralcontainers'] },
  params,
  defaultMode: 'enforce',
  validate(ctx) {
    const view = podSpecOf(ctx.kind, ctx.object);
    if (!view) return [];
    const digestRequired = requiresDigest(ctx);
    return imageSites(view).flatMap((site) => judgeImage(site, ctx.params, digestRequired));
  },
});

function imageSites(view: PodSpecView): ImageSite[] {
  const sites: ImageSite[] = containersOf(view).map((c) => ({
    who: `${LIST_NAMES[c.list]} "${c.name}"`,
    path: [...c.path, 'image'],
    image: c.container.image,
  }));
  const volumes = view.spec.volumes;
  if (!Array.isArray(volumes)) return sites;
  volumes.forEach((volume: unknown, index) => {
    if (!isRecord(volume) || !isRecord(volume.image)) return;
    const name = typeof volume.name === 'string' ? volume.name : `#${index}`;
    const path = [...view.specPath, 'volumes', index, 'image', 'reference'];
    sites.push({ who: `image volume "${name}"`, path, image: volume.image.reference });
  });
  return sites;
}

function judgeImage(site: ImageSite, p: Params, digestRequired: boolean): Finding[] {
  const path = toFieldPath(site.path);
  if (typeof site.image !== 'string' || site.image === '') {
    return [
      {
        reason: 'invalidImage',
        path,
        message: `${site.who} names no image`,
        fix: 'set image to a reference from an allowed registry, e.g. registry.example/app:1.0',
      },
    ];
  }
  const parsed = parseImageRef(site.image);
  if (!parsed.ok) {
    return [
      {
        reason: 'invalidImage',
        path,
        message: `${site.who} image "${site.image}" is not a valid reference: ${parsed.error}`,
        fix: 'write it as [registry[:port]/]repository[:tag][@sha256:<digest>]',
      },
    ];
  }
  const findings: Finding[] = [];
  const registryFinding = judgeRegistry(site, parsed.ref, p.allowedRegistries);
  if (registryFinding) findings.push(registryFinding);
  const tagFinding = p.denyLatest ? judgeTag(site, parsed.ref) : undefined;
  if (tagFinding) findings.push(tagFinding);
  if (digestRequired && parsed.ref.digest === undefined) {
    findings.push({
      reason: 'digestRequired',
      path,
      message: `${site.who} image "${site.image}" is not pinned by digest, as this namespace needs`,
      fix: 'append @sha256:<digest> of the image you tested (e.g. from `crane digest <image>`)',
    });
  }
  return findings;
}

function judgeRegistry(
  site: ImageSite,
  ref: ImageRef,
  allowed: readonly string[],
): Finding | undefined {
  if (allowed.some((entry) => entryAllows(entry, ref))) return undefined;
  const listed =
    allowed.length === 0
      ? 'none'
      : allowed.slice(0, 5).join(', ') + (allowed.length > 5 ? ', …' : '');
  return {
    reason: 'untrustedRegistry',
    path: toFieldPath(site.path),
    message:
      `${site.who} image "${String(site.image)}" comes from registry "${ref.registry}" ` +
      `(repository "${ref.repository}"), which is not an allowed registry (allowed: ${listed})`,
    fix:
      `pull the image from an allowed registry, or add "${ref.registry}/${ref.repository}" ` +
      `or "${ref.registry}" to trusted-images params.allowedRegistries`,
  };
}

// An entry is `hostGlob` or `hostGlob/repositoryGlob`; the host glob is matched against the whole
// parsed registry (host and port), so a registry is never admitted by a shared string prefix.
function entryAllows(entry: string, ref: ImageRef): boolean {
  const slash = entry.indexOf('/');
  const hostGlob = (slash < 0 ? entry : entry.slice(0, slash)).toLowerCase();
  const repositoryGlob = slash < 0 ? '*' : entry.slice(slash + 1);
  return globMatch(hostGlob, ref.registry) && globMatch(repositoryGlob, ref.repository);
}

// The image name as the manifest spells it, without tag or digest (`nginx`, not the parsed
// `docker.io/library/nginx`), so that the suggested fix is a small edit of what the user wrote.
function writtenName(image: string): string {
  const name = image.split('@')[0]!;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

function judgeTag(site: ImageSite, ref: ImageRef): Finding | undefined {
  if (ref.digest !== undefined) return undefined;
  const name = writtenName(String(site.image));
  const fix = `pin a version tag (e.g. ${name}:1.2.3) or a digest (@sha256:<digest>)`;
  if (ref.tag === undefined) {
    return {
      reason: 'missingTag',
      path: toFieldPath(site.path),
      message: `${site.who} image "${String(site.image)}" has no tag or digest (pulls :latest)`,
      fix,
    };
  }
  if (ref.tag !== 'latest') return undefined;
  return {
    reason: 'latestTag',
    path: toFieldPath(site.path),
    message: `${site.who} image "${String(site.image)}" uses the mutable tag "latest"`,
    fix,
  };
}

function requiresDigest(ctx: PolicyContext<Params>): boolean {
  const { namespaces, namespaceLabel } = ctx.params.requireDigest;
  return namespaceSelected(ctx.cluster, ctx.namespace, namespaces, namespaceLabel);
}
