import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  artifactContentType,
  classifyArtifactUri,
  containedPath,
  contentDisposition,
  createArtifactStore,
  safeRelativePath,
} from '../src/artifacts/index.js';
import { FlywheelError } from '../src/core/index.js';

function expectInvalid(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected INVALID_PARAMETER_VALUE').toBeInstanceOf(FlywheelError);
  expect((caught as FlywheelError).code).toBe('INVALID_PARAMETER_VALUE');
}

async function expectInvalidAsync(p: Promise<unknown>): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected INVALID_PARAMETER_VALUE').toBeInstanceOf(FlywheelError);
  expect((e as FlywheelError).code).toBe('INVALID_PARAMETER_VALUE');
}

describe('safeRelativePath', () => {
  it.each([
    ['', ''],
    ['path', 'path'],
    ['path/', 'path'],
    ['path/to/file', 'path/to/file'],
    ['path//to///file/', 'path/to/file'],
    ['./path/./file', 'path/file'],
    ['model/MLmodel', 'model/MLmodel'],
    ['a b/ü ñ.txt', 'a b/ü ñ.txt'],
    ['100%.txt', '100%.txt'],
    ['dir/file.tar.gz', 'dir/file.tar.gz'],
    ['.hidden/x', '.hidden/x'],
    ['dir/a:b', 'dir/a:b'],
  ])('accepts %j → %j', (input, output) => {
    expect(safeRelativePath(input)).toBe(output);
  });

  it.each([
    // MLflow's own regression cases
    '/path',
    '../path',
    '../../path',
    './../path',
    'path/../to/file',
    'path/../../to/file',
    // security-cases.md: run artifact get/list path
    '../../../../etc/passwd',
    '/etc/passwd',
    'C:/',
    'C:\\',
    'C:',
    'c:/windows/win.ini',
    '\\..\\x',
    '..\\x',
    'path/../../x',
    // proxy paths after the one decode at the HTTP edge
    '../x', // from %2e%2e%2fx
    '%2E%2E%2Fx', // from %252E%252E%252Fx (double-encoded)
    '%2e%2e/x',
    'a/%2e%2e/%2e%2e/x',
    '%00',
    '/etc/passwd\u0000.jpg',
    'etc/passwd\u0000.jpg',
    '/file://etc/passwd',
    'file://etc/passwd',
    'file:/etc/passwd',
    's3://bucket/x',
    'a?b',
    'a#b',
    'a;b',
    'a:b', // a scheme-like first segment
    'a\nb',
    '..',
    'a/..',
    'a/...',
    'a/.. ',
    'x/' + 'y'.repeat(256),
    'z'.repeat(4097),
  ])('refuses %j', (input) => {
    expectInvalid(() => safeRelativePath(input));
  });
});

describe('classifyArtifactUri / validateArtifactLocation', () => {
  let base: string;
  let root: string;
  let store: ReturnType<typeof createArtifactStore>;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'flywheel-art-uri-'));
    root = join(base, 'root');
    mkdirSync(join(root, 'exp'), { recursive: true });
    mkdirSync(join(base, 'outside'));
    symlinkSync(join(base, 'outside'), join(root, 'link-out'));
    store = createArtifactStore({ root });
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('accepts proxy URIs and normalises them', () => {
    expect(store.validateArtifactLocation('mlflow-artifacts:/')).toBe('mlflow-artifacts:/');
    expect(store.validateArtifactLocation('mlflow-artifacts:/1')).toBe('mlflow-artifacts:/1');
    expect(store.validateArtifactLocation('mlflow-artifacts:/models/')).toBe('mlflow-artifacts:/models');
    expect(store.validateArtifactLocation('mlflow-artifacts:/a//b///')).toBe('mlflow-artifacts:/a/b');
    expect(store.validateArtifactLocation('mlflow-artifacts://localhost:5000/1/')).toBe('mlflow-artifacts://localhost:5000/1');
    expect(store.validateArtifactLocation('mlflow-artifacts:///x//y')).toBe('mlflow-artifacts:/x/y');
    expect(classifyArtifactUri('mlflow-artifacts://tracking.example.com/7/run/artifacts')).toEqual({
      kind: 'proxy',
      path: '7/run/artifacts',
      authority: 'tracking.example.com',
      uri: 'mlflow-artifacts://tracking.example.com/7/run/artifacts',
    });
  });

  it('accepts file URIs and absolute paths inside the root', () => {
    const exp = pathToFileURL(join(root, 'exp')).href;
    expect(store.validateArtifactLocation(exp)).toBe(exp);
    expect(store.validateArtifactLocation(join(root, 'exp'))).toBe(exp);
    expect(store.validateArtifactLocation(`file://localhost${join(root, 'exp')}`)).toBe(exp);
    expect(store.validateArtifactLocation(`file:${join(root, 'exp')}`)).toBe(exp);
    expect(store.validateArtifactLocation(pathToFileURL(root).href)).toBe(pathToFileURL(root).href);
    expect(store.validateArtifactLocation(`${join(root, 'not-yet', 'created')}/`)).toBe(
      pathToFileURL(join(root, 'not-yet', 'created')).href,
    );
    expect(store.classify(join(root, 'exp'))).toMatchObject({ kind: 'local', rel: 'exp' });
  });

  it('accepts object-store URIs', () => {
    expect(store.validateArtifactLocation('s3://bucket/prefix')).toBe('s3://bucket/prefix');
    expect(store.validateArtifactLocation('s3://my-bucket/a/b/')).toBe('s3://my-bucket/a/b');
    expect(store.validateArtifactLocation('gs://bucket/p')).toBe('gs://bucket/p');
    expect(store.validateArtifactLocation('wasbs://c@acct.blob.core.windows.net/p')).toBe(
      'wasbs://c@acct.blob.core.windows.net/p',
    );
    expect(classifyArtifactUri('S3://bucket/x')).toMatchObject({ kind: 'remote', scheme: 's3' });
  });

  const refused = (r: string) => [
    // security-cases.md: experiment artifact_location
    'http://host#/abc/etc/',
    'http:///#/../../../../etc/',
    'mlflow-artifacts:/x;params',
    ';params',
    'mlflow-artifacts:/x?query',
    '?query',
    'file:///etc/',
    'file:///etc/passwd',
    `file://${r}/../outside`,
    `${r}/../outside`,
    'dbfs:/databricks/mlflow',
    // security-cases.md: model version sources
    'file://./etc',
    'file://etc/passwd',
    'file://host/../..',
    '/etc',
    '//proc/self/environ',
    's3://b/../../..',
    'http://host/;..%2F..%2Fetc',
    'https://example.com/api/2.0/mlflow-artifacts/artifacts/x',
    'http://169.254.169.254/latest/meta-data/',
    '../../../etc',
    'mlruns',
    './mlruns',
    // traversal raw, encoded once, encoded twice
    'mlflow-artifacts:/../x',
    'mlflow-artifacts:/a/../../x',
    'mlflow-artifacts://host:5000/../../../../',
    'mlflow-artifacts://host:port/x',
    'mlflow-artifacts://host:5000/..%2f..%2f..%2f..%2f',
    'mlflow-artifacts:/%2e%2e/x',
    'mlflow-artifacts:/%252e%252e%252fx',
    'mlflow-artifacts:/%25252e%25252e/x',
    'mlflow-artifacts:/a%3f/../..',
    'mlflow-artifacts:/a%3fb',
    'mlflow-artifacts:/a%23b',
    'mlflow-artifacts:/x%00',
    'mlflow-artifacts:/x\u0000y',
    'mlflow-artifacts:/x%zz',
    'mlflow-artifacts:x',
    `file://${r}/%2e%2e/outside`,
    `file://${r}/%252e%252e/outside`,
    `file://${r}/./exp`,
    's3://b/%2e%2e/x',
    's3://b/%252E%252E/x',
    's3://b/x%00',
    's3:/b/x',
    's3://../x',
    's3:///x',
    // schemes that are not artifact stores the server accepts
    'runs:/0123456789abcdef0123456789abcdef/artifacts',
    'models:/m/1',
    'hdfs://namenode/x',
    'ftp://host/x',
    'javascript:alert(1)',
    // Windows
    'C:/x',
    'C:\\x',
    '\\\\server\\share',
    '',
  ];

  it('refuses every unsafe URI shape', () => {
    for (const uri of refused(root)) {
      try {
        store.validateArtifactLocation(uri);
      } catch (e) {
        expect((e as FlywheelError).code, uri).toBe('INVALID_PARAMETER_VALUE');
        continue;
      }
      expect.fail(`accepted ${JSON.stringify(uri)}`);
    }
  });

  it('refuses a location inside the root that leaves it through a symlink', () => {
    expectInvalid(() => store.validateArtifactLocation(join(root, 'link-out', 'x')));
    expectInvalid(() => store.validateArtifactLocation(pathToFileURL(join(root, 'link-out')).href));
  });

  it('refuses local URIs when no root is given', () => {
    expectInvalid(() => classifyArtifactUri(pathToFileURL(join(root, 'exp')).href));
  });

  it('defaultArtifactRoot depends on serveArtifacts', () => {
    expect(store.defaultArtifactRoot).toBe('mlflow-artifacts:/');
    const direct = createArtifactStore({ root, serveArtifacts: false });
    expect(direct.defaultArtifactRoot).toBe(pathToFileURL(root).href);
    expect(direct.validateArtifactLocation(`${direct.defaultArtifactRoot}/0`)).toBe(pathToFileURL(join(root, '0')).href);
  });
});

describe('containedPath', () => {
  let base: string;
  let root: string;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'flywheel-art-contained-'));
    root = join(base, 'root');
    mkdirSync(join(root, 'real', 'sub'), { recursive: true });
    mkdirSync(join(base, 'outside'));
    writeFileSync(join(base, 'outside', 'secret.txt'), 'secret');
    symlinkSync(join(base, 'outside'), join(root, 'link-out'));
    symlinkSync(join(base, 'outside', 'secret.txt'), join(root, 'file-out'));
    symlinkSync(join(root, 'real'), join(root, 'alias'));
    symlinkSync(join(base, 'nowhere'), join(root, 'dangling'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('resolves plain and not-yet-existing paths inside the root', async () => {
    const realRoot = await containedPath(root, '');
    expect(await containedPath(root, 'real/sub')).toBe(join(realRoot, 'real', 'sub'));
    expect(await containedPath(root, 'new/dir/file')).toBe(join(realRoot, 'new', 'dir', 'file'));
  });

  it('follows symlinks that stay inside the root', async () => {
    const realRoot = await containedPath(root, '');
    expect(await containedPath(root, 'alias/sub')).toBe(join(realRoot, 'real', 'sub'));
    expect(await containedPath(root, 'alias', { resolveLast: true })).toBe(join(realRoot, 'real'));
    expect(await containedPath(root, 'alias')).toBe(join(realRoot, 'alias'));
  });

  it('refuses symlinks that leave the root, wherever they are on the path', async () => {
    await expectInvalidAsync(containedPath(root, 'link-out/secret.txt'));
    await expectInvalidAsync(containedPath(root, 'link-out/new/file'));
    await expectInvalidAsync(containedPath(root, 'link-out'));
    await expectInvalidAsync(containedPath(root, 'link-out', { resolveLast: true }));
    await expectInvalidAsync(containedPath(root, 'file-out', { resolveLast: true }));
    await expectInvalidAsync(containedPath(root, 'dangling', { resolveLast: true }));
    await expectInvalidAsync(containedPath(root, '../outside/secret.txt'));
  });
});

describe('artifact content types', () => {
  it.each([
    ['model/MLmodel', 'text/plain; charset=utf-8'],
    ['conda.yaml', 'text/plain; charset=utf-8'],
    ['metrics.json', 'text/plain; charset=utf-8'],
    ['script.js', 'text/plain; charset=utf-8'],
    ['plot.png', 'image/png'],
    ['photo.JPG', 'image/jpeg'],
    ['chart.svg', 'image/svg+xml'],
    ['report.html', 'application/octet-stream'],
    ['report.HTM', 'application/octet-stream'],
    ['model.pkl', 'application/octet-stream'],
    ['noext', 'application/octet-stream'],
  ])('%s → %s', (name, type) => {
    expect(artifactContentType(name)).toBe(type);
  });

  it('builds a safe Content-Disposition', () => {
    expect(contentDisposition('dir/a.txt')).toBe(`attachment; filename="a.txt"; filename*=UTF-8''a.txt`);
    expect(contentDisposition('ü "x".txt')).toBe(
      `attachment; filename="_ _x_.txt"; filename*=UTF-8''%C3%BC%20%22x%22.txt`,
    );
  });
});
