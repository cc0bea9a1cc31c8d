/**
 * Secret detection with secretlint's maintained rule set
 * (`@secretlint/secretlint-rule-preset-recommend`: AWS, GCP, private keys, npm, basic-auth URLs,
 * Slack, SendGrid, Shopify, GitHub, OpenAI, Linear, 1Password), run synchronously.
 *
 * Why not `lintSource` from `@secretlint/core`: it returns a Promise only because it dispatches
 * the rules through a promise-based event emitter; every rule of the preset reports from a
 * synchronous `file(source)` handler. Admission validation is synchronous (`Policy.validate`),
 * so the rules' own handlers are called here with a minimal rule context. The result is checked
 * against `lintSource` itself in test/secret-scan.test.ts. A rule that ever answers with a
 * Promise (a future preset version) makes the scan throw instead of being skipped silently: the
 * engine turns that into a policy error, which denies in enforce mode.
 *
 * Nothing here keeps or formats a secret: the translator given to the rules returns the message
 * id only, because secretlint's messages quote the secret they found.
 */
import { rules as PRESET_RULES } from '@secretlint/secretlint-rule-preset-recommend';
import type {
  SecretLintRuleContext,
  SecretLintRuleCreator,
  SecretLintRuleReportHandler,
  SecretLintSourceCode,
  SecretLintSourceNodeLocation,
  SecretLintSourceNodePosition,
} from '@secretlint/types';

/** One secretlint rule that matched, named without the secret. */
export interface SecretHit {
  /** Short rule name, e.g. `aws` for `@secretlint/secretlint-rule-aws`. */
  rule: string;
  /** The rule's message id, e.g. `AWSSecretAccessKey`. */
  messageId: string;
}

/** Options of scanForSecrets. */
export interface ScanOptions {
  /**
   * File name the text came from (a ConfigMap key), so that rules keyed on the file type apply:
   * the GCP rule looks for service-account keys only in `.json` content, the npm rule for
   * `_authToken` only in `.npmrc`. Without a name, the npm rule checks package.json patterns.
   */
  fileName?: string;
}

// `secretlint-disable` comments would let whoever writes a value silence the scan; phi-guard's
// exceptions (named, with a reason and an expiry) are the way to accept a finding.
const SKIPPED_RULES = new Set(['@secretlint/secretlint-rule-filter-comments']);

// The GCP rule reads `.p12` files from disk by their path, asynchronously: never meaningful for
// request content, so a `.p12` name is not passed on. Known limitation: a GCP service-account key
// in PKCS#12 form (binaryData) is not detected, because that rule needs the file on disk.
const UNSUPPORTED_EXTENSIONS = new Set(['.p12']);

const PREFIX = '@secretlint/secretlint-rule-';

/** A hit with the character range the rule reported, before it is mapped to a text. */
interface RawHit extends SecretHit {
  start: number;
  end: number;
}

let sink: RawHit[] | undefined;
let activeRule = '';

const context: SecretLintRuleContext = {
  sharedOptions: {},
  createTranslator: () => (messageId) => ({
    message: '',
    messageId: String(messageId),
    data: undefined,
  }),
  report(descriptor) {
    const [start, end] = descriptor.range;
    sink?.push({ rule: activeRule, messageId: descriptor.message.messageId, start, end });
  },
  ignore() {
    // Only the skipped filter-comments rule ignores; nothing to record.
  },
};

interface LoadedRule {
  rule: string;
  handler: SecretLintRuleReportHandler;
}

const LOADED: readonly LoadedRule[] = (PRESET_RULES as SecretLintRuleCreator[])
  .filter((r) => !SKIPPED_RULES.has(r.meta.id))
  .map((r) => ({
    rule: r.meta.id.startsWith(PREFIX) ? r.meta.id.slice(PREFIX.length) : r.meta.id,
    // Default options: the maintainers' choices (e.g. AWS access key IDs are not reported).
    handler: r.create(context, {}),
  }));

/** Short names of the secretlint rules in use, e.g. `aws`, `privatekey`. */
export const SECRETLINT_RULES: readonly string[] = LOADED.map((r) => r.rule);

function runRules(content: string, fileName: string | undefined): RawHit[] {
  const source = sourceOf(content, fileName, extensionOf(fileName));
  const hits: RawHit[] = [];
  sink = hits;
  try {
    for (const { rule, handler } of LOADED) {
      activeRule = rule;
      const answer: unknown = handler.file?.(source);
      if (isThenable(answer)) {
        answer.then(undefined, () => undefined);
        throw new Error(
          `secretlint rule ${rule} answered asynchronously; it cannot run in admission`,
        );
      }
    }
  } finally {
    sink = undefined;
    activeRule = '';
  }
  return hits;
}

/** Scans one text for secrets; one hit per rule and message id, in rule order. */
export function scanForSecrets(content: string, options: ScanOptions = {}): SecretHit[] {
  return content.length === 0 ? [] : dedupe(runRules(content, options.fileName));
}

/**
 * Scans several texts without file names (env values, arguments, annotations) in one pass of
 * each rule, and answers as `texts.map((t) => scanForSecrets(t))` would. One pass is far cheaper
 * than one per text: rules compile some of their patterns on every call. The texts are joined
 * by newlines; a hit that spans two texts (a private-key pattern may cross lines) is not
 * trusted, and the texts it touches are scanned again one by one.
 */
export function scanEachForSecrets(texts: readonly string[]): SecretHit[][] {
  const starts: number[] = [];
  let content = '';
  for (const text of texts) {
    starts.push(content.length);
    content += `${text}\n`;
  }
  const results: SecretHit[][] = texts.map(() => []);
  const rescan = new Set<number>();
  for (const hit of texts.length > 0 ? runRules(content, undefined) : []) {
    const first = textAt(starts, hit.start);
    const last = textAt(starts, Math.max(hit.start, hit.end - 1));
    const endOfFirst = (starts[first] as number) + (texts[first] as string).length;
    if (first === last && hit.end <= endOfFirst) {
      results[first]?.push({ rule: hit.rule, messageId: hit.messageId });
    } else {
      for (let i = first; i <= last; i++) rescan.add(i);
    }
  }
  for (const i of rescan) results[i] = scanForSecrets(texts[i] as string);
  return results.map(dedupe);
}

/** Index of the text that holds character `offset` (binary search over the start offsets). */
function textAt(starts: readonly number[], offset: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if ((starts[mid] as number) <= offset) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** A readable name for a hit, e.g. `secretlint rule aws (AWSSecretAccessKey)`. */
export function describeHit(hit: SecretHit): string {
  return `secretlint rule ${hit.rule} (${hit.messageId})`;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

function dedupe(hits: readonly SecretHit[]): SecretHit[] {
  const seen = new Set<string>();
  const out: SecretHit[] = [];
  for (const { rule, messageId } of hits) {
    const key = `${rule}\u0000${messageId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ rule, messageId });
  }
  return out;
}

function extensionOf(fileName: string | undefined): string {
  const match = fileName ? /(\.[^./\\]+)$/.exec(fileName) : null;
  const ext = match ? (match[1] as string).toLowerCase() : '';
  return UNSUPPORTED_EXTENSIONS.has(ext) ? '' : ext;
}

/**
 * The source object rules read. There is never a physical file: rules that would read one (the
 * GCP `.p12` check) are kept away by `extensionOf`.
 */
function sourceOf(
  content: string,
  filePath: string | undefined,
  ext: string,
): SecretLintSourceCode {
  let starts: number[] | undefined;
  const lineStarts = (): number[] => (starts ??= lineStartsOf(content));
  const toIndex = (p: SecretLintSourceNodePosition): number =>
    (lineStarts()[p.line - 1] ?? content.length) + p.column;
  const toPosition = (index: number): SecretLintSourceNodePosition => {
    const all = lineStarts();
    let line = all.length;
    while (line > 1 && (all[line - 1] as number) > index) line--;
    return { line, column: index - (all[line - 1] as number) };
  };
  return {
    hasBOM: false,
    content,
    filePath,
    physicalFilePath: undefined,
    contentType: 'text',
    ext,
    getFilePath: () => filePath,
    getPhysicalFilePath: () => undefined,
    positionToIndex: toIndex,
    indexToPosition: toPosition,
    locationToRange: (loc: SecretLintSourceNodeLocation) => [toIndex(loc.start), toIndex(loc.end)],
    rangeToLocation: ([start, end]) => ({ start: toPosition(start), end: toPosition(end) }),
  };
}

// Lines are 1-based and columns 0-based, as in secretlint's own source code (structured-source).
function lineStartsOf(content: string): number[] {
  const starts = [0];
  for (let i = 0; i < content.length; i++) if (content.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

// ---------------------------------------------------------------------------------------------
// Heuristics beside secretlint: where a credential has no recognisable format (a database
// password, a random API key), its name gives it away. Kept deliberately small: a name is a
// credential's name when one of its words is a credential word and no later word turns it into
// the name of something else (`DB_PASSWORD` yes; `DB_PASSWORD_FILE`, `TOKEN_URL` no).
// ---------------------------------------------------------------------------------------------

const CREDENTIAL_WORDS = new Set([
  'PASSWORD',
  'PASSWD',
  'PASSPHRASE',
  'PASS',
  'PWD',
  'SECRET',
  'TOKEN',
  'APIKEY',
  'AUTHKEY',
  'ACCESSKEY',
  'SECRETKEY',
  'PRIVATEKEY',
  'CREDENTIAL',
  'CREDENTIALS',
  'CREDS',
]);

// Every credential word above holds one of these: a cheap test that settles most names.
const CREDENTIAL_HINT = /pass|pwd|secret|token|key|cred/i;

// Compound words written without separators (`dbpassword`, `bearertoken`).
const CREDENTIAL_ENDINGS = ['PASSWORD', 'PASSWD', 'SECRET', 'TOKEN', 'APIKEY'];

// `<qualifier>_KEY` names a key that is itself the secret; other keys (`CACHE_KEY`) are not.
const KEY_QUALIFIERS = new Set([
  'API',
  'ACCESS',
  'SECRET',
  'PRIVATE',
  'ENCRYPTION',
  'SIGNING',
  'MASTER',
  'ACCOUNT',
  'SHARED',
  'SSH',
  'CLIENT',
  'AUTH',
]);

// A later word that makes the name refer to, or describe, the credential rather than hold it.
const NON_CREDENTIAL_WORDS = new Set(
  (
    'NAME NAMES REF FILE FILES PATH DIR ID IDS UID URL URLS URI ENDPOINT HOST HOSTS PORT ' +
    'ADDR ADDRESS SERVER SERVICE USER USERNAME TTL TIMEOUT EXPIRY EXPIRES EXPIRATION ' +
    'LIFETIME LENGTH LEN SIZE COUNT LIMIT MIN MAX TYPE KIND MODE FORMAT ENCODING HEADER ' +
    'FIELD PARAM ENV VAR POLICY ENABLED DISABLED ENABLE DISABLE REQUIRED ALGORITHM ALG ' +
    'ISSUER AUDIENCE SCOPE SCOPES VERSION ROTATION INTERVAL PERIOD PROVIDER MANAGER ' +
    'STORE BACKEND SOURCE PREFIX SUFFIX LOCATION MOUNT VOLUME NAMESPACE AUTH ' +
    'AUTHENTICATION HASH'
  ).split(' '),
);

// Names that look like credentials but, by a documented convention, hold something else:
// PWD and OLDPWD are the shell's working directories (POSIX); GOOGLE_APPLICATION_CREDENTIALS
// holds the path of a key file (Google Cloud Application Default Credentials);
// ETCD_INITIAL_CLUSTER_TOKEN only keeps two bootstrapping etcd clusters apart (etcd
// configuration flags: "initial cluster token for the etcd cluster during bootstrap").
const KNOWN_NON_CREDENTIAL_NAMES = new Set([
  'PWD',
  'OLDPWD',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'ETCD_INITIAL_CLUSTER_TOKEN',
]);

/** Upper-case words of a name: `dbPassword` → DB PASSWORD, `api-key` → API KEY. */
export function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/([A-Za-z])([0-9])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => w.toUpperCase());
}

function isCredentialWord(words: string[], i: number): boolean {
  const word = words[i] as string;
  // PASS only ends a name (`DB_PASS`); earlier it is a verb (`PASS_THROUGH`).
  if (word === 'PASS') return i === words.length - 1;
  if (CREDENTIAL_WORDS.has(word)) return true;
  if (word === 'KEY') return i > 0 && KEY_QUALIFIERS.has(words[i - 1] as string);
  return CREDENTIAL_ENDINGS.some((end) => word.length > end.length && word.endsWith(end));
}

/** True when `name` reads as the name of a credential (see the heuristics above). */
export function isCredentialName(name: string): boolean {
  if (!CREDENTIAL_HINT.test(name) || KNOWN_NON_CREDENTIAL_NAMES.has(name)) return false;
  const words = wordsOf(name);
  let last = -1;
  words.forEach((_, i) => {
    if (isCredentialWord(words, i)) last = i;
  });
  return last >= 0 && !words.slice(last + 1).some((w) => NON_CREDENTIAL_WORDS.has(w));
}

// Variable references that something else fills in: Kubernetes `$(VAR)` in env, command and
// args (Kubernetes docs, "Define Dependent Environment Variables"),
// shell `$VAR` / `${VAR}`, and `{{ template }}` syntax.
const REFERENCE = /\$\([A-Za-z_][\w.-]*\)|\$\{[^}]{0,256}\}|\{\{[^}]{0,256}\}\}|\$[A-Za-z_]\w*/g;
const NOT_A_VALUE = /^(?:true|false|yes|no|on|off|null|none|~)$/i;

/**
 * True when a value is not a literal credential: empty, a boolean or null, or nothing but
 * variable references and punctuation (`$(DB_PASSWORD)`, `${TOKEN}`, `|` opening a YAML block).
 */
export function isPlaceholder(value: string): boolean {
  const trimmed = value.trim().replace(/^(["'])(.*)\1$/, '$2');
  if (NOT_A_VALUE.test(trimmed)) return true;
  return !/[A-Za-z0-9]/.test(trimmed.replace(REFERENCE, ''));
}

// scheme "://" userinfo "@" (RFC 3986 section 3.2.1); bounded so that the scan stays linear.
const URL_USERINFO = /\b[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/([^\s/?#@"'<>]{1,256})@/g;

/**
 * True when the text holds a URL with a password in its userinfo (`postgres://app:pw@db/x`).
 * RFC 3986 section 3.2.1 deprecates `user:password` in URIs because the password then travels
 * and is stored in clear text. secretlint's basic-auth rule covers http(s) and ftp only, so
 * database, broker and cache URLs are checked here.
 */
export function hasUrlPassword(text: string): boolean {
  for (const match of text.matchAll(URL_USERINFO)) {
    const userinfo = match[1] as string;
    const colon = userinfo.indexOf(':');
    if (colon >= 0 && !isPlaceholder(userinfo.slice(colon + 1))) return true;
  }
  return false;
}

const ASSIGNMENT_LINE =
  /^\s*(?:export\s+)?["']?([A-Za-z_][\w.-]{0,127})["']?\s*[:=]\s*(.*?)\s*,?\s*$/;

/** A credential-named key found in text, with its 1-based line. */
export interface KeyedCredential {
  key: string;
  line: number;
}

/**
 * Lines of configuration text that set a credential-named key to a literal:
 * `password=...` (.properties, .env, INI), `password: ...` (YAML), `"password": "..."` (JSON),
 * `export TOKEN=...` (shell). Known limitation: a YAML block scalar (`password: |`) is not
 * paired with the lines below it, because that needs a YAML parse of every file.
 */
export function credentialAssignments(
  text: string,
  allowed: (name: string) => boolean,
): KeyedCredential[] {
  const found: KeyedCredential[] = [];
  text.split('\n').forEach((line, i) => {
    const match = ASSIGNMENT_LINE.exec(line);
    if (!match) return;
    const [, key, value] = match as unknown as [string, string, string];
    if (!allowed(key) && isCredentialName(key) && !isPlaceholder(value))
      found.push({ key, line: i + 1 });
  });
  return found;
}

const FLAG_WITH_VALUE = /^(-{0,2}([A-Za-z_][\w.-]{0,127}))=(.*)$/s;
const FLAG_ALONE = /^-{1,2}([A-Za-z][\w.-]{0,127})$/;

/** A credential given on a command line, with the index of the word that holds the value. */
export interface FlagCredential {
  /** The flag or variable as written, e.g. `--db-password` or `API_TOKEN`. */
  flag: string;
  index: number;
}

/**
 * Words of a command line that pass a credential literally: `--db-password=...`,
 * `-Dspring.datasource.password=...`, `API_TOKEN=...`, or `--password` followed by a word that
 * is not a flag. Known limitation: values glued to short flags (`mysql -pSECRET`) are not
 * recognised, because single letters mean different things to different programs.
 */
export function credentialFlags(
  words: string[],
  allowed: (name: string) => boolean,
): FlagCredential[] {
  const found: FlagCredential[] = [];
  const unquote = (w: string): string => w.replace(/^(["'])(.*)\1$/s, '$2');
  words.forEach((raw, i) => {
    const word = unquote(raw);
    const assigned = FLAG_WITH_VALUE.exec(word);
    if (assigned) {
      const [, written, flag, value] = assigned as unknown as [string, string, string, string];
      if (!allowed(flag) && isCredentialName(flag) && !isPlaceholder(value)) {
        found.push({ flag: written, index: i });
      }
      return;
    }
    const alone = FLAG_ALONE.exec(word);
    const next = words[i + 1];
    if (!alone || next === undefined || next.startsWith('-')) return;
    const flag = alone[1] as string;
    if (!allowed(flag) && isCredentialName(flag) && !isPlaceholder(unquote(next))) {
      found.push({ flag: word, index: i + 1 });
    }
  });
  return found;
}
