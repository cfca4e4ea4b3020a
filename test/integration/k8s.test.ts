/**
 * The Kubernetes manifests of deploy/k8s are structurally valid and agree with
 * tapwatch itself: kinds and apiVersions, required fields, selectors that
 * match their pods, every env name a setting of ConfigSchema with a value it
 * accepts, probes on the port the process listens on and on a path that a real
 * `tapwatch api` started with the manifest's settings answers. The generated
 * ClickHouse cluster schema is the committed file, and its column list agrees
 * with what the single-node migrations create in the real engine.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigSchema, SETTINGS_DOC } from '@tapwatch/schema';
import { assertSafeBinding } from '@tapwatch/dashboard-api';
import { openStore, singleNodeTables } from '@tapwatch/store';
import { startClickHouseHttp, type RunningClickHouseHttp } from '../support/clickhouse-http.mjs';
import { ROOT, startTapwatch, tempDir, type RunningTapwatch } from '../support/helpers.js';

const K8S = join(ROOT, 'deploy', 'k8s');
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: any };

const KNOWN: Record<string, string> = { Namespace: 'v1', ConfigMap: 'v1', Secret: 'v1', Service: 'v1', Deployment: 'apps/v1' };

function load(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => {
    assert.equal(d.errors.length, 0, `${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Manifest;
  });
}

const kustomization = load('kustomization.yaml')[0]!;
const manifests = (kustomization.resources as string[]).flatMap((f) => load(f).map((m) => ({ file: f, m })));
const byKind = (kind: string) => manifests.filter((x) => x.m.kind === kind).map((x) => x.m);
const configMap = byKind('ConfigMap')[0]!;
const secret = byKind('Secret')[0]!;
const settings = { ...(configMap.data as Record<string, string>), ...(secret.stringData as Record<string, string>) };

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('the kustomization lists every manifest file; each parses and has a known kind, apiVersion and name', () => {
  assert.equal(kustomization.apiVersion, 'kustomize.config.k8s.io/v1beta1');
  assert.equal(kustomization.kind, 'Kustomization');
  const yamlFiles = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  assert.deepEqual([...(kustomization.resources as string[])].sort(), yamlFiles.sort(), 'no manifest left out of the kustomization');
  for (const { file, m } of manifests) {
    assert.ok(KNOWN[m.kind], `${file}: unexpected kind ${m.kind}`);
    assert.equal(m.apiVersion, KNOWN[m.kind], `${file}: ${m.kind} apiVersion`);
    assert.match(m.metadata?.name ?? '', /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${file}: metadata.name is a DNS label`);
  }
  assert.deepEqual(
    byKind('Deployment')
      .map((d) => d.metadata.name)
      .sort(),
    ['tapwatch-analyzer', 'tapwatch-api'],
  );
  assert.equal(byKind('Service').length, 1);
});

test('every env name is a tapwatch setting and the values parse; analyzers have Kafka, ClickHouse and a consumer group', () => {
  const known = new Set(Object.keys(ConfigSchema.shape));
  for (const name of Object.keys(settings)) assert.ok(known.has(name), `${name} is not a tapwatch setting`);
  for (const name of Object.keys(settings)) assert.ok(SETTINGS_DOC[name as keyof typeof SETTINGS_DOC], `${name} is documented`);
  const config = ConfigSchema.parse(settings);
  assert.ok(config.KAFKA_BROKERS && config.KAFKA_BROKERS.length > 0, 'KAFKA_BROKERS');
  assert.ok(config.CLICKHOUSE_URL, 'CLICKHOUSE_URL');
  assert.ok(config.TAPWATCH_CONSUMER_GROUP);
  // Pods listen on all interfaces, which tapwatch allows only with a token.
  assert.equal(config.TAPWATCH_HOST, '0.0.0.0');
  assert.doesNotThrow(() => assertSafeBinding(config.TAPWATCH_HOST, config.TAPWATCH_TOKEN));
  assert.ok(!Object.keys(configMap.data).some((k) => /TOKEN|PASSWORD/.test(k)), 'secrets are in the Secret, not the ConfigMap');
});

test('Deployments: selectors match their pods, containers run the right command with env from the ConfigMap and Secret, probes hit /healthz on the listening port', () => {
  const port = Number(ConfigSchema.parse(settings).TAPWATCH_PORT);
  for (const d of byKind('Deployment')) {
    const name = d.metadata.name;
    assert.ok(Number.isInteger(d.spec.replicas) && d.spec.replicas >= 2, `${name}: replicas for scale-out`);
    const labels = d.spec.template.metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(d.spec.selector.matchLabels as Record<string, string>)) assert.equal(labels[k], v, `${name}: selector matches the pod`);
    const containers = d.spec.template.spec.containers as any[];
    assert.equal(containers.length, 1);
    const c = containers[0];
    assert.ok(c.name && c.image, `${name}: container name and image`);
    assert.deepEqual(c.args, [name.replace('tapwatch-', '')], `${name}: runs its tapwatch command`);
    const refs = (c.envFrom as any[]).map((e) => e.configMapRef?.name ?? e.secretRef?.name);
    assert.deepEqual(refs.sort(), [configMap.metadata.name, secret.metadata.name].sort());
    const ports = c.ports as { name: string; containerPort: number }[];
    assert.equal(ports.length, 1);
    assert.equal(ports[0]!.containerPort, port, `${name}: the container port is TAPWATCH_PORT`);
    assert.equal(c.readinessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.port, ports[0]!.name);
    // Liveness must not restart an analyzer that waits for storage (/healthz is 503 then): port only.
    assert.equal(c.livenessProbe.tcpSocket.port, ports[0]!.name);
    const mounts = (c.volumeMounts ?? []) as { name: string }[];
    const volumes = (d.spec.template.spec.volumes ?? []) as { name: string }[];
    for (const m of mounts)
      assert.ok(
        volumes.some((v) => v.name === m.name),
        `${name}: volume ${m.name} defined`,
      );
  }
  const svc = byKind('Service')[0]!;
  const api = byKind('Deployment').find((d) => d.metadata.name === 'tapwatch-api')!;
  for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>))
    assert.equal(api.spec.template.metadata.labels[k], v, 'the Service selects the API pods');
  assert.equal(svc.spec.ports[0].targetPort, api.spec.template.spec.containers[0].ports[0].name);
});

let ch: RunningClickHouseHttp;

test('a real `tapwatch api` with the manifest settings (test addresses) answers the readiness probe', async () => {
  const dir = tempDir('k8s');
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  ch = await startClickHouseHttp({ dataDir: dir });
  cleanup.push(() => ch.shutdown());
  const api = byKind('Deployment').find((d) => d.metadata.name === 'tapwatch-api')!;
  const probe = api.spec.template.spec.containers[0].readinessProbe.httpGet.path as string;
  const env: Record<string, string> = { ...settings, TAPWATCH_HOST: '127.0.0.1', CLICKHOUSE_URL: ch.url, TAPWATCH_LOG_LEVEL: 'warn' };
  // No broker in this test: the API serves SQL only (no ingest, no stream); users are the fixture's default.
  delete env['KAFKA_BROKERS'];
  delete env['CLICKHOUSE_USER'];
  delete env['CLICKHOUSE_READONLY_USER'];
  const running: RunningTapwatch = await startTapwatch('api', { env });
  cleanup.push(() => running.stop());
  const r = await fetch(`${running.url}${probe}`);
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as { status: string }).status, 'ok');
});

test('the committed cluster schema is what the generator prints; the single-node tables it derives match the real engine', async () => {
  const { render } = (await import(join(K8S, 'gen-cluster-schema.mjs'))) as { render: () => string };
  assert.equal(
    readFileSync(join(K8S, 'clickhouse-cluster-schema.sql'), 'utf8'),
    render(),
    'regenerate: node deploy/k8s/gen-cluster-schema.mjs > deploy/k8s/clickhouse-cluster-schema.sql',
  );

  const store = await openStore({
    url: ch.url,
    user: 'default',
    password: '',
    database: 'k8s_check',
    dataDir: tempDir('k8s-unused'),
    sqlMaxRows: 1000,
    sqlTimeoutSeconds: 10,
  });
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
  const real = await ch.query<{ table: string; name: string; type: string }>(
    `SELECT table, name, type FROM system.columns WHERE database = 'k8s_check' AND table IN (SELECT name FROM system.tables WHERE database = 'k8s_check' AND engine != 'View') ORDER BY table, position`,
  );
  const derived = singleNodeTables().flatMap((t) =>
    t.columns.map((c) => ({ table: t.name, name: c.split(' ')[0]!, type: c.slice(c.indexOf(' ') + 1).replace(/ DEFAULT .*$/, '') })),
  );
  const key = (x: { table: string; name: string; type: string }) => `${x.table}.${x.name} ${x.type.replace(/\s+/g, '')}`;
  assert.deepEqual(derived.map(key).sort(), real.map(key).sort());
});
