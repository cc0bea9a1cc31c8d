/**
 * Cases for policies/no-plaintext-credentials.ts: literal credentials in env, command and args of
 * every container list and pod kind, in ConfigMap data and binaryData, in annotations (with the
 * `last-applied-configuration` kept by kubectl apply), and the engine's modes and exceptions.
 *
 * Credential-shaped values are assembled at load time, so that no secret scanner flags this file;
 * every one of them is in SECRET_VALUES, which the test checks never reach a message.
 */
import { Buffer } from 'node:buffer';
import type { KubeObject } from '../../src/engine/policy.js';
import { bareContainer, controller, pod, type Json } from '../fixtures/pods.js';
import type { PolicyCase } from './types.js';

const POLICY = 'no-plaintext-credentials';
const NS = 'clinic';

const GITHUB_TOKEN = 'ghp_' + 'x9Kq'.repeat(9);
const AWS_SECRET = 'Ab3x'.repeat(10);
const DB_PASSWORD = 'Tr0ub4dor-' + 'and3';
const URL_PASSWORD = 'Sq7' + 'wPx2zz';
const API_KEY = 'k3y-' + 'f00dcafe'.repeat(3);
const NPM_TOKEN = 'npm_' + 'Q7rT'.repeat(9);
const SLACK_HOOK = ['https://hooks.slack.com/services/T0AB12CD3', 'B0EF45GH6', 'x'.repeat(24)].join(
  '/',
);
const PRIVATE_KEY = [
  '-----BEGIN RSA PRIVATE KEY-----',
  'MIIEow' + 'Zm9vYmFy'.repeat(8),
  '-----END RSA PRIVATE KEY-----',
].join('\n');

/** Every credential-like value used below; none may appear in a decision. */
export const SECRET_VALUES = [
  GITHUB_TOKEN,
  AWS_SECRET,
  DB_PASSWORD,
  URL_PASSWORD,
  API_KEY,
  NPM_TOKEN,
  SLACK_HOOK,
  'MIIEow',
];

function env(name: string, value: string): Json {
  return { name, value };
}

function podWith(container: Json, extra: Json = {}): KubeObject {
  return pod({ containers: [bareContainer('app', container)], ...extra }, { namespace: NS });
}

function deploymentWith(container: Json, annotations?: Record<string, string>): KubeObject {
  return controller(
    'Deployment',
    { containers: [bareContainer('app', container)] },
    { namespace: NS, annotations },
  );
}

function configMap(data: Record<string, string>, binaryData?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'settings', namespace: NS },
    data,
    ...(binaryData ? { binaryData } : {}),
  };
}

function withAnnotations(object: KubeObject, annotations: Record<string, string>): KubeObject {
  const metadata = { ...(object.metadata as Json), annotations };
  return { ...object, metadata };
}

function lastApplied(manifest: KubeObject): Record<string, string> {
  return { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(manifest) };
}

const secret: KubeObject = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', namespace: NS },
  type: 'Opaque',
  stringData: { password: DB_PASSWORD },
};

const base64 = (text: string): string => Buffer.from(text).toString('base64');
const PNG_HEADER = Buffer.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13,
]).toString('base64');

const leakyDeployment = deploymentWith({ env: [env('DB_PASSWORD', DB_PASSWORD)] });
const cleanDeployment = deploymentWith({ env: [env('LOG_LEVEL', 'info')] });

const allowed: PolicyCase[] = [
  {
    name: 'env reads the password from a Secret (valueFrom.secretKeyRef)',
    policy: POLICY,
    object: podWith({
      env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
    }),
    expect: 'allowed',
  },
  {
    name: 'env names the file that holds the password (DB_PASSWORD_FILE)',
    policy: POLICY,
    object: podWith({ env: [env('DB_PASSWORD_FILE', '/run/secrets/db/password')] }),
    expect: 'allowed',
  },
  {
    name: 'env password is a $(VAR) reference to another variable',
    policy: POLICY,
    object: podWith({ env: [env('DB_PASSWORD', '$(DB_PASSWORD_FROM_SECRET)')] }),
    expect: 'allowed',
  },
  {
    name: 'env password is empty',
    policy: POLICY,
    object: podWith({ env: [env('REDIS_PASSWORD', '')] }),
    expect: 'allowed',
  },
  {
    name: 'env holds ordinary settings and GOOGLE_APPLICATION_CREDENTIALS holds a path',
    policy: POLICY,
    object: podWith({
      env: [
        env('LOG_LEVEL', 'debug'),
        env('AWS_ACCESS_KEY_ID_NAME', 'reader'),
        env('GOOGLE_APPLICATION_CREDENTIALS', '/var/secrets/google/key.json'),
        env('MYSQL_ALLOW_EMPTY_PASSWORD', 'yes'),
      ],
    }),
    expect: 'allowed',
  },
  {
    name: 'args pass a password file and a $(VAR) password',
    policy: POLICY,
    object: podWith({ args: ['--password-file=/run/secrets/db', '--password', '$(DB_PASSWORD)'] }),
    expect: 'allowed',
  },
  {
    name: 'ConfigMap properties refer to the password by placeholder',
    policy: POLICY,
    object: configMap({
      'application.properties':
        'spring.datasource.url=jdbc:postgresql://db/app\nspring.datasource.password=${DB_PASSWORD}\n',
      'log.level': 'info',
    }),
    expect: 'allowed',
  },
  {
    name: 'ConfigMap binaryData is an image, not text',
    policy: POLICY,
    object: configMap({}, { 'logo.png': PNG_HEADER }),
    expect: 'allowed',
  },
  {
    name: 'Secret holds the password in data, where it belongs',
    policy: POLICY,
    object: { ...secret, stringData: undefined, data: { password: base64(DB_PASSWORD) } },
    expect: 'allowed',
  },
  {
    name: 'Ingress annotation names the basic-auth Secret (ingress-nginx auth-secret)',
    policy: POLICY,
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {
        name: 'web',
        namespace: NS,
        annotations: {
          'nginx.ingress.kubernetes.io/auth-type': 'basic',
          'nginx.ingress.kubernetes.io/auth-secret': 'basic-auth',
        },
      },
      spec: {},
    },
    expect: 'allowed',
  },
  {
    name: 'last-applied-configuration of a clean Deployment',
    policy: POLICY,
    object: withAnnotations(cleanDeployment, lastApplied(cleanDeployment)),
    expect: 'allowed',
  },
  {
    name: 'env name matches allowedNames (MAPBOX_PUBLIC_TOKEN is public by design)',
    policy: POLICY,
    config: { policies: { [POLICY]: { params: { allowedNames: ['*_PUBLIC_TOKEN'] } } } },
    object: podWith({ env: [env('MAPBOX_PUBLIC_TOKEN', API_KEY)] }),
    expect: 'allowed',
  },
];

const denied: PolicyCase[] = [
  {
    name: 'env DB_PASSWORD holds a literal password',
    policy: POLICY,
    object: podWith({ env: [env('LOG_LEVEL', 'info'), env('DB_PASSWORD', DB_PASSWORD)] }),
    expect: 'denied',
    reasons: ['credential-name'],
    messageIncludes: [
      'Pod clinic/web: spec.containers[0].env[1].value: container "app" env DB_PASSWORD has a credential-like name',
      'valueFrom.secretKeyRef',
    ],
  },
  {
    name: 'env with a neutral name holds a GitHub token',
    policy: POLICY,
    object: deploymentWith({ env: [env('GIT_CONFIG_BLOB', `token ${GITHUB_TOKEN}`)] }),
    expect: 'denied',
    reasons: ['detected-secret'],
    messageIncludes: [
      'spec.template.spec.containers[0].env[0].value',
      'secretlint rule github (GITHUB_TOKEN)',
    ],
  },
  {
    name: 'env AWS_SECRET_ACCESS_KEY holds a key (secretlint sees name and value together)',
    policy: POLICY,
    object: podWith({ env: [env('AWS_SECRET_ACCESS_KEY', AWS_SECRET)] }),
    expect: 'denied',
    reasons: ['detected-secret'],
    messageIncludes: ['secretlint rule aws (AWSSecretAccessKey)'],
  },
  {
    name: 'CronJob init container env DATABASE_URL carries a password',
    policy: POLICY,
    object: controller(
      'CronJob',
      {
        initContainers: [
          bareContainer('migrate', {
            env: [env('DATABASE_URL', `postgres://app:${URL_PASSWORD}@db:5432/app`)],
          }),
        ],
        containers: [bareContainer('app')],
      },
      { namespace: NS },
    ),
    expect: 'denied',
    reasons: ['url-password'],
    messageIncludes: [
      'spec.jobTemplate.spec.template.spec.initContainers[0].env[0].value',
      'container "migrate" env DATABASE_URL holds a URL with a password',
    ],
  },
  {
    name: 'StatefulSet args pass --db-password=literal',
    policy: POLICY,
    object: controller(
      'StatefulSet',
      {
        containers: [bareContainer('db', { args: ['--verbose', `--db-password=${DB_PASSWORD}`] })],
      },
      { namespace: NS },
    ),
    expect: 'denied',
    reasons: ['credential-name'],
    messageIncludes: [
      'spec.template.spec.containers[0].args[1]: container "db" args[1] passes a literal ' +
        'value to credential-like "--db-password"',
    ],
  },
  {
    name: 'Job command passes --token followed by the token',
    policy: POLICY,
    object: controller(
      'Job',
      { containers: [bareContainer('sync', { command: ['sync', '--token', API_KEY] })] },
      { namespace: NS },
    ),
    expect: 'denied',
    reasons: ['credential-name'],
    messageIncludes: ['spec.template.spec.containers[0].command[2]', '"--token"'],
  },
  {
    name: 'DaemonSet shell script exports API_KEY',
    policy: POLICY,
    object: controller(
      'DaemonSet',
      {
        containers: [
          bareContainer('agent', {
            command: ['sh', '-c'],
            args: [`export API_KEY=${API_KEY}\nexec agent`],
          }),
        ],
      },
      { namespace: NS },
    ),
    expect: 'denied',
    reasons: ['credential-name'],
    messageIncludes: ['container "agent" args[0]', '"API_KEY"'],
  },
  {
    name: 'kubectl debug adds an ephemeral container with a literal token',
    policy: POLICY,
    object: podWith(
      {},
      {
        ephemeralContainers: [
          { name: 'debugger', image: 'busybox:1.36', env: [env('GITHUB_TOKEN', GITHUB_TOKEN)] },
        ],
      },
    ),
    request: { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: podWith({}) },
    expect: 'denied',
    reasons: ['detected-secret'],
    messageIncludes: [
      'spec.ephemeralContainers[0].env[0].value',
      'container "debugger" env GITHUB_TOKEN',
    ],
    offline: false,
  },
  {
    name: 'ConfigMap key DB_PASSWORD holds a literal password',
    policy: POLICY,
    object: configMap({ DB_HOST: 'db', DB_PASSWORD: DB_PASSWORD }),
    expect: 'denied',
    reasons: ['credential-name'],
    messageIncludes: [
      'ConfigMap clinic/settings: data.DB_PASSWORD: key "DB_PASSWORD" has a credential-like name',
      'SealedSecret',
    ],
  },
  {
    name: 'ConfigMap properties file sets spring.datasource.password',
    policy: POLICY,
    object: configMap({
      'application.properties':
        'spring.datasource.url=jdbc:postgresql://db/app\n' +
        `spring.datasource.password=${DB_PASSWORD}\n`,
    }),
    expect: 'denied',
    reasons: ['credential-name'],
    messageIncludes: ['data["application.properties"]', '"spring.datasource.password" (line 2)'],
  },
  {
    name: 'ConfigMap binaryData holds an .npmrc with an auth token',
    policy: POLICY,
    object: configMap({}, { '.npmrc': base64(`//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n`) }),
    expect: 'denied',
    reasons: ['detected-secret'],
    messageIncludes: ['binaryData[".npmrc"]', 'secretlint rule npm'],
  },
  {
    name: 'ConfigMap holds a private key',
    policy: POLICY,
    object: configMap({ 'tls.key': PRIVATE_KEY }),
    expect: 'denied',
    reasons: ['detected-secret'],
    messageIncludes: ['data["tls.key"]', 'secretlint rule privatekey (PrivateKey)'],
  },
  {
    name: 'Service annotation holds a Slack webhook URL',
    policy: POLICY,
    object: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'alerts',
        namespace: NS,
        annotations: { 'example.com/notify': SLACK_HOOK },
      },
      spec: { ports: [{ port: 443 }] },
    },
    expect: 'denied',
    reasons: ['detected-secret'],
    messageIncludes: [
      'metadata.annotations["example.com/notify"]: annotation "example.com/notify"',
      'secretlint rule slack',
    ],
  },
  {
    name: 'Deployment pod template annotation holds a URL with a password',
    policy: POLICY,
    object: deploymentWith(
      {},
      { 'example.com/upstream': `amqp://app:${URL_PASSWORD}@broker:5672` },
    ),
    expect: 'denied',
    reasons: ['url-password'],
    messageIncludes: ['spec.template.metadata.annotations["example.com/upstream"]'],
  },
  {
    name: 'Secret applied with kubectl apply keeps its stringData in last-applied-configuration',
    policy: POLICY,
    object: withAnnotations(
      { ...secret, stringData: undefined, data: { password: base64(DB_PASSWORD) } },
      lastApplied(secret),
    ),
    expect: 'denied',
    reasons: ['secret-in-last-applied'],
    messageIncludes: [
      'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]',
      'keys password',
      '--server-side',
    ],
  },
  {
    name: 'last-applied-configuration that is not JSON holds a URL with a password',
    policy: POLICY,
    object: withAnnotations(configMap({ a: '1' }), {
      'kubectl.kubernetes.io/last-applied-configuration': `broker=amqp://app:${URL_PASSWORD}@mq`,
    }),
    expect: 'denied',
    reasons: ['url-password'],
    messageIncludes: ['annotation "kubectl.kubernetes.io/last-applied-configuration" holds a URL'],
  },
  {
    name: 'Deployment last-applied-configuration still holds a password removed from the spec',
    policy: POLICY,
    object: withAnnotations(cleanDeployment, lastApplied(leakyDeployment)),
    expect: 'denied',
    reasons: ['credential-name'],
    messageIncludes: [
      'still has spec.template.spec.containers[0].env[0].value: container "app" env DB_PASSWORD',
    ],
  },
];

const byMode: PolicyCase[] = [
  {
    name: 'env DB_PASSWORD holds a literal password (warn mode)',
    policy: POLICY,
    config: { policies: { [POLICY]: { mode: 'warn' } } },
    object: leakyDeployment,
    expect: 'warned',
    reasons: ['credential-name'],
    messageIncludes: ['(warn mode: not denied yet)'],
  },
  {
    name: 'env DB_PASSWORD holds a literal password (audit mode)',
    policy: POLICY,
    config: { policies: { [POLICY]: { mode: 'audit' } } },
    object: leakyDeployment,
    expect: 'audited',
  },
  {
    name: 'env DB_PASSWORD holds a literal password (covered by an exception)',
    policy: POLICY,
    config: {
      exceptions: [
        {
          name: 'legacy-web',
          policies: [POLICY],
          namespace: NS,
          kind: 'Deployment',
          objectName: 'web',
          reason: 'vendor chart reads the password from env only; ticket SEC-42',
          expires: '2099-12-31',
        },
      ],
    },
    object: leakyDeployment,
    expect: 'excepted',
  },
  {
    name: 'UPDATE relabels a Deployment whose env already held the password',
    policy: POLICY,
    object: leakyDeployment,
    request: { operation: 'UPDATE', oldObject: leakyDeployment },
    expect: 'warned',
    messageIncludes: ['already present before this update'],
    offline: false,
  },
  {
    name: 'UPDATE adds a literal password to a clean Deployment',
    policy: POLICY,
    object: leakyDeployment,
    request: { operation: 'UPDATE', oldObject: cleanDeployment },
    expect: 'denied',
    offline: false,
  },
];

/** The table. */
export const cases: PolicyCase[] = [...allowed, ...denied, ...byMode];
