/**
 * The monitoring overlay: alert rules that Prometheus accepts and that fire when they should
 * (promtool), a dashboard whose queries parse, and both reading only metrics phi-guard exports.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { REPO_ROOT, render } from './fixtures/kustomize.js';
import { allowedSeriesNames, hasPromtool, metricNames, promtool } from './fixtures/promtool.js';

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: AlertRule[];
}
interface Panel {
  title: string;
  datasource?: { uid: string };
  targets?: Array<{ expr: string }>;
}

const UNIT_TESTS = join(REPO_ROOT, 'test/fixtures/promtool/alerts.test.yaml');
const objects = render('overlays/monitoring');
const groups = (objects.find((o) => o.kind === 'PrometheusRule')!.spec as { groups: RuleGroup[] })
  .groups;
const rules = groups.flatMap((g) => g.rules);
const dashboardMap = objects.find((o) => o.kind === 'ConfigMap')!.data as Record<string, string>;
const dashboard = JSON.parse(dashboardMap['phi-guard.json']!) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string }> };
};
const panelQueries = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).map((t) => [p.title, t.expr] as const),
);

/** A dashboard query as Prometheus receives it: Grafana's variables replaced. */
function asPromQL(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', 'phi-guard');
}

describe('metric names the rules and the dashboard read', () => {
  let allowed: Set<string>;
  beforeAll(async () => {
    allowed = await allowedSeriesNames();
  });

  it.each([
    [
      'a rate in a ratio',
      'sum(rate(a_total{x="y"}[5m])) / sum(rate(b_total[5m])) > 0.25',
      ['a_total', 'b_total'],
    ],
    [
      'histogram_quantile by le',
      'histogram_quantile(0.99, sum by (le, w) (rate(h_bucket[5m])))',
      ['h_bucket'],
    ],
    ['unless with offset', 'x unless x offset 15m', ['x']],
    ['absent of a comparison', 'absent(up{job="a"} == 1)', ['up']],
    ['arithmetic on time()', 'g - time() < 14 * 24 * 3600', ['g']],
  ])('the scan reads %s', (_name, expr, names) => {
    expect(metricNames(expr).sort()).toEqual([...names].sort());
  });

  it.each(rules.map((r) => [r.alert, r.expr] as const))(
    'alert %s reads only exported metrics',
    (_alert, expr) => {
      const names = metricNames(expr);
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((n) => !allowed.has(n))).toEqual([]);
    },
  );

  it.each(panelQueries)('panel "%s" reads only exported metrics', (_title, expr) => {
    const names = metricNames(asPromQL(expr));
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !allowed.has(n))).toEqual([]);
  });

  it('a metric phi-guard does not export is caught', () => {
    const names = metricNames('sum(rate(apiserver_admission_webhook_rejection_count[5m]))');
    expect(names.filter((n) => !allowed.has(n))).toEqual([
      'apiserver_admission_webhook_rejection_count',
    ]);
  });
});

describe('alert rules', () => {
  it('cover denial spikes, webhook errors, latency, certificate expiry, config reloads and readiness', () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'PhiGuardDenialSpike',
        'PhiGuardWebhookErrors',
        'PhiGuardHighLatency',
        'PhiGuardCertificateExpiringSoon',
        'PhiGuardConfigReloadFailed',
        'PhiGuardPodsNotReady',
        'PhiGuardDown',
      ]),
    );
  });

  it.each(rules.map((r) => [r.alert, r] as const))(
    '%s has a severity, a summary and a description',
    (_a, rule) => {
      expect(['critical', 'warning', 'info']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toMatch(/\S/);
      expect(rule.annotations?.description).toMatch(/\S/);
    },
  );

  it('the certificate alert fires at 14 days', () => {
    expect(rules.find((r) => r.alert === 'PhiGuardCertificateExpiringSoon')!.expr).toContain(
      '14 * 24 * 3600',
    );
  });

  it('every alert has a promtool unit test that fires it', () => {
    const tests = (
      parse(readFileSync(UNIT_TESTS, 'utf8')) as {
        tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
      }
    ).tests;
    const fired = new Set(
      tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect([...fired].sort()).toEqual(rules.map((r) => r.alert).sort());
  });
});

describe('dashboard', () => {
  it('has a stable uid, a data source variable and a query in every panel', () => {
    expect(dashboard.uid).toBe('phi-guard');
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    for (const panel of dashboard.panels) {
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
  });

  it('is the file shipped beside the kustomization (importable by hand)', () => {
    const file = readFileSync(
      join(REPO_ROOT, 'manifests/overlays/monitoring/grafana-dashboard.json'),
      'utf8',
    );
    expect(dashboardMap['phi-guard.json']).toBe(file);
  });
});

if (!hasPromtool()) {
  console.warn(
    'monitoring-rules: promtool not found (apt-get install prometheus); skipping the promtool checks',
  );
}

describe.skipIf(!hasPromtool())('promtool', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'phi-guard-promtool-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('check rules accepts the alert rules (expressions and annotation templates)', () => {
    writeFileSync(join(dir, 'alerts.yaml'), stringify({ groups }));
    const run = promtool(['check', 'rules', 'alerts.yaml'], dir);
    expect(run.stdout + run.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(run.status).toBe(0);
  });

  it('check rules refuses a broken expression (the check can fail)', () => {
    const broken = [{ name: 'broken', rules: [{ alert: 'Broken', expr: 'sum(rate(x[5m])' }] }];
    writeFileSync(join(dir, 'broken.yaml'), stringify({ groups: broken }));
    expect(promtool(['check', 'rules', 'broken.yaml'], dir).status).not.toBe(0);
  });

  it('test rules: every unit test in test/fixtures/promtool passes', () => {
    const withoutAnnotations = groups.map((g) => ({
      ...g,
      rules: g.rules.map(({ annotations: _annotations, ...rule }) => rule),
    }));
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: withoutAnnotations }));
    copyFileSync(UNIT_TESTS, join(dir, 'alerts.test.yaml'));
    const run = promtool(['test', 'rules', 'alerts.test.yaml'], dir);
    expect(run.stdout + run.stderr).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });

  it('check rules accepts every dashboard query', () => {
    const recording = panelQueries.map(([, expr], i) => ({
      record: `phi_guard:panel_${i}`,
      expr: asPromQL(expr),
    }));
    writeFileSync(
      join(dir, 'panels.yaml'),
      stringify({ groups: [{ name: 'panels', rules: recording }] }),
    );
    const run = promtool(['check', 'rules', 'panels.yaml'], dir);
    expect(run.stdout + run.stderr).toContain(`SUCCESS: ${recording.length} rules found`);
    expect(run.status).toBe(0);
  });
});
