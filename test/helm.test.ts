/**
 * The Helm chart renders (with ../shared/tools/helmlite, as no helm binary can be had here) with default
 * values and with every option on, and every manifest validates against the Kubernetes schemas
 * (kubernetes-models, KEDA, prometheus-operator) and against their TypeScript types, which catch
 * misspelled fields; values of the wrong type are refused by values.schema.json.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOOLS = path.resolve(ROOT, '../shared/tools');
const CACHE = path.join(ROOT, 'node_modules/.cache/switchboard-chart');
const HELMLITE = path.join(CACHE, 'helmlite');
const CHART = path.join(ROOT, 'helm/switchboard');

function render(valuesFile?: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(HELMLITE, [CHART, ...(valuesFile ? ['-f', valuesFile] : []), '--name', 'sb'], { encoding: 'utf8' });
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function validate(manifests: string, name: string): { schema: string; strict: string } {
  const file = path.join(CACHE, `${name}.yaml`);
  writeFileSync(file, manifests);
  const schema = spawnSync(process.execPath, [path.join(CACHE, 'validate-manifests.mjs'), file], { encoding: 'utf8', cwd: CACHE });
  if (schema.status !== 0) throw new Error(`schema validation failed:\n${schema.stdout}${schema.stderr}`);
  execFileSync(process.execPath, [path.join(CACHE, 'strict-check.mjs'), file], { cwd: CACHE });
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', path.join(CACHE, 'manifests.check.ts')], { encoding: 'utf8' });
  return { schema: schema.stdout, strict: tsc.status === 0 ? 'ok' : tsc.stdout };
}

const docs = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS()).filter(Boolean) as { kind: string; metadata: { name: string }; spec: any }[];

beforeAll(() => {
  mkdirSync(CACHE, { recursive: true });
  // The validators import their packages from the project, so they run from inside it.
  for (const f of ['validate-manifests.mjs', 'strict-check.mjs']) copyFileSync(path.join(TOOLS, 'k8s-validate', f), path.join(CACHE, f));
  if (!existsSync(HELMLITE)) execFileSync('bash', [path.join(TOOLS, 'helmlite/build.sh'), HELMLITE], { stdio: 'inherit' });
}, 600_000);

test('default values render manifests that all validate, strictly', () => {
  const out = render();
  expect(out.stderr).toBe('');
  const { schema, strict } = validate(out.stdout, 'default');
  expect(schema).toMatch(/\b9 passed, 0 failed/);
  expect(strict).toBe('ok');
  const kinds = docs(out.stdout).map((d) => `${d.kind}/${d.metadata.name}`);
  expect(kinds).toEqual(expect.arrayContaining(['Deployment/sb-switchboard-gateway', 'Deployment/sb-switchboard-worker-default', 'HorizontalPodAutoscaler/sb-switchboard-worker-default', 'NetworkPolicy/sb-switchboard']));
});

test('every option on renders manifests that all validate, with KEDA scaling each worker group on its queues', () => {
  const out = render(path.join(ROOT, 'test/fixtures/helm/all-options.yaml'));
  expect(out.stderr).toBe('');
  const { schema, strict } = validate(out.stdout, 'all-options');
  expect(schema).toMatch(/\b14 passed, 0 failed/);
  expect(strict).toBe('ok');
  const manifests = docs(out.stdout);
  const scaled = manifests.filter((d) => d.kind === 'ScaledObject');
  expect(scaled.map((s) => s.spec.triggers.map((t: { metadata: { listName: string } }) => t.metadata.listName))).toEqual([
    ['prod:fn.on-push:wait', 'prod:route.notify:wait'],
    ['prod:fn.heavy:wait'],
  ]);
  expect(scaled[0]!.spec).toMatchObject({ minReplicaCount: 1, fallback: { failureThreshold: 3, replicas: 2 } });
  for (const trigger of scaled[0]!.spec.triggers) expect(Object.values(trigger.metadata).every((v) => typeof v === 'string')).toBe(true);
  const heavy = manifests.find((d) => d.kind === 'Deployment' && d.metadata.name === 'sb-switchboard-worker-heavy')!;
  expect(heavy.spec.template.spec.containers[0].args).toEqual(['worker', '--health-port', '8081', '--shutdown-seconds', '280', '--functions', 'heavy']);
  expect(heavy.spec.template.spec.terminationGracePeriodSeconds).toBe(300);
  for (const kind of ['Ingress', 'ServiceMonitor', 'PodDisruptionBudget']) expect(manifests.some((d) => d.kind === kind)).toBe(true);
});

test('pods run restricted: non-root, no privilege escalation, no capabilities, read-only root, seccomp, no service-account token', () => {
  for (const d of docs(render().stdout).filter((m) => m.kind === 'Deployment')) {
    const pod = d.spec.template.spec;
    expect(pod).toMatchObject({ automountServiceAccountToken: false, securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } });
    expect(pod.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.containers[0].livenessProbe.httpGet.path).toBe('/healthz');
    expect(pod.containers[0].readinessProbe.httpGet.path).toBe('/readyz');
    expect(d.spec.template.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
  }
});

test('the gateway gives in-flight requests time: the grace period covers preStop plus the drain', () => {
  const gateway = docs(render().stdout).find((d) => d.kind === 'Deployment' && d.metadata.name === 'sb-switchboard-gateway')!;
  const pod = gateway.spec.template.spec;
  const drain = Number(pod.containers[0].args[pod.containers[0].args.indexOf('--shutdown-seconds') + 1]);
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(pod.containers[0].lifecycle.preStop.sleep.seconds + drain);
});

test('Redis Sentinel: the pods get the sentinels, KEDA scales on them, and the manifests validate', () => {
  const out = render(path.join(ROOT, 'test/fixtures/helm/sentinel.yaml'));
  expect(out.stderr).toBe('');
  expect(validate(out.stdout, 'sentinel').strict).toBe('ok');
  const manifests = docs(out.stdout);
  const env = manifests.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0].env as { name: string; value?: string }[];
  expect(env.find((e) => e.name === 'REDIS_SENTINELS')?.value).toBe('sentinel-0.redis:26379,sentinel-1.redis:26379');
  expect(env.some((e) => e.name === 'REDIS_URL')).toBe(false);
  const trigger = manifests.find((d) => d.kind === 'ScaledObject')!.spec.triggers[0];
  expect(trigger).toMatchObject({ type: 'redis-sentinel', metadata: { addressesFromEnv: 'REDIS_SENTINELS', sentinelMasterFromEnv: 'REDIS_SENTINEL_MASTER', passwordFromEnv: 'REDIS_PASSWORD' } });
});

test('a values file with a wrong type is refused by values.schema.json', () => {
  const out = render(path.join(ROOT, 'test/fixtures/helm/wrong-type.yaml'));
  expect(out.status).not.toBe(0);
  expect(out.stderr).toContain('gateway.replicas: Invalid type. Expected: integer, given: string');
});

test('the strict check does catch a misspelled field', () => {
  const misspelled = render().stdout.replace('automountServiceAccountToken: false', 'automountServiceAccountTokn: false');
  expect(validate(misspelled, 'misspelled').strict).toMatch(/automountServiceAccountTokn/);
});
