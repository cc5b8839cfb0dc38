/**
 * Herald used from elsewhere: from the checkout as `npx herald`, installed globally from the
 * checkout as `herald`, and from `npm pack`'s tarball in a project of its own, which gets
 * `herald` on its PATH and `herald/verify` to import, with nothing of Herald's built or run at
 * install time. The tarball's dependencies come from the npm registry (better-sqlite3 from
 * this checkout, already built); the one install serves every check.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const exec = promisify(execFile);
/** A shell of someone else's: no npm settings inherited from an `npm test` above, no Herald ones. */
const env = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^(npm_|HERALD_)/i.test(name)),
);
const dir = tempDir();
afterAll(() => dir.remove());

/** Runs `command` in `cwd`; its exit code and both outputs, never a throw. */
async function sh(cwd: string, command: string, extraEnv: Record<string, string> = {}, timeout = 60_000) {
  try {
    const { stdout, stderr } = await exec('bash', ['-c', command], {
      cwd,
      env: { ...env, ...extraEnv },
      timeout,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('from the checkout', () => {
  it('npx herald runs the CLI', async () => {
    const r = await sh(ROOT, 'npx herald --help');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: herald/);
  });

  it('npm install -g puts herald on the PATH', async () => {
    const prefix = dir.path('global');
    const installed = await sh(ROOT, `npm install -g --prefix ${prefix} .`);
    expect(installed.code).toBe(0);
    const r = await sh(ROOT, 'herald --version', { PATH: `${prefix}/bin:${env.PATH}` });
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')).version);
  });
});

describe("npm pack's tarball, installed in another project", () => {
  const project = dir.path('project');
  let files: string[] = [];
  let install = { code: 0, stdout: '', stderr: '' };

  beforeAll(async () => {
    // dist/ is already built (vitest's global setup); building it again here would rewrite
    // files that other test files' processes are loading. `npm pack` alone builds (prepack).
    const packed = await sh(ROOT, `npm pack --ignore-scripts --json --pack-destination ${dir.dir}`);
    expect(packed.code, packed.stderr).toBe(0);
    const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    files = info.files.map((f) => f.path);
    mkdirSync(project);
    // What a project on Node 20 and npm 11 adds (README, "Using Herald from another project"):
    // better-sqlite3's build allowed, and Fastify's test helper kept on a cookie for Node 20.
    writeFileSync(
      `${project}/package.json`,
      JSON.stringify({
        name: 'uses-herald',
        private: true,
        type: 'module',
        allowScripts: { 'better-sqlite3': true },
        overrides: { 'light-my-request': { cookie: '^1.1.1' } },
      }),
    );
    // better-sqlite3 compiles from source here (no prebuilt binary can be fetched): about
    // 110 s of both cores, in the middle of the suite. The project gets the copy this
    // checkout already built, as a project that had it installed would; npm keeps a present
    // dependency that satisfies the range, so it neither fetches nor rebuilds it, and
    // everything else still comes from the registry.
    const copied = new Set<string>();
    const copy = (name: string) => {
      if (copied.has(name)) return;
      copied.add(name);
      cpSync(`${ROOT}/node_modules/${name}`, `${project}/node_modules/${name}`, { recursive: true });
      const manifest = JSON.parse(readFileSync(`${ROOT}/node_modules/${name}/package.json`, 'utf8'));
      for (const dep of Object.keys(manifest.dependencies ?? {})) copy(dep);
    };
    copy('better-sqlite3');
    const started = Date.now();
    install = await sh(project, `npm install ${dir.path(info.filename)}`, {}, 900_000);
    console.log(`pack.test: npm install of the tarball took ${Math.round((Date.now() - started) / 1000)} s`);
  }, 960_000);

  it('holds the built CLI, the verify library and the migrations, and no sources or tests', () => {
    expect(files).toContain('bin/herald.js');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/verify/index.js');
    expect(files).toContain('dist/verify/index.d.ts');
    expect(files.some((f) => f.startsWith('dist/store/sqlite/migrations/'))).toBe(true);
    expect(files.some((f) => f.startsWith('dist/store/postgres/migrations/'))).toBe(true);
    expect(files.filter((f) => /^(src|test|bench)\//.test(f))).toEqual([]);
  });

  it('installs with no warning about engines or install scripts, and runs nothing of its own', () => {
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/EBADENGINE|install-scripts/);
    const installed = JSON.parse(readFileSync(`${project}/node_modules/herald/package.json`, 'utf8'));
    const { preinstall, install: installScript, postinstall, prepare } = installed.scripts ?? {};
    expect({ preinstall, installScript, postinstall, prepare }).toEqual({});
  });

  it('has herald on the PATH of npx', async () => {
    const r = await sh(project, 'npx herald --help');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: herald/);
  });

  it('imports herald/verify', async () => {
    const r = await sh(
      project,
      `node -e "import('herald/verify').then((v) => console.log(typeof v.standardWebhooks, typeof v.nodeMiddleware))"`,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('function function');
  });

  it('serves: migrates a new database, prints a token and answers with it', async () => {
    const child: ChildProcess = spawn(
      `${project}/node_modules/.bin/herald`,
      ['serve', '--port', '0', '--db', `${project}/herald.db`, '--log-level', 'warn'],
      { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      const [, token, url] = await new Promise<RegExpExecArray>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`herald did not start:\n${out}`)), 15_000);
        child.stdout!.on('data', () => {
          const m = /created admin token[^:]*: (\S+)[\s\S]*API listening on (http:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          }
        });
        child.once('exit', (code) => reject(new Error(`herald exited with ${code}:\n${out}`)));
      });
      const res = await fetch(`${url}/api/v1/app`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      }
    }
  });
});
