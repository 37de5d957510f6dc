// A fresh bulwark-server for one browser-test run: a free port, a temporary data dir, a known
// operator token, the built app in web/dist; emails read from its outbox.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../..');
export const OPERATOR_TOKEN = 'e2e-operator-token';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

export async function startServer() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-e2e-'));
  const bin = process.env.BULWARK_SERVER_BIN || join(REPO, 'target/debug/bulwark-server');
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, [], {
    env: {
      ...process.env,
      BULWARK_LISTEN: `127.0.0.1:${port}`,
      BULWARK_DATA_DIR: dataDir,
      BULWARK_OPERATOR_TOKEN: OPERATOR_TOKEN,
      BULWARK_KEYRING_PASSPHRASE: 'e2e keyring passphrase',
      BULWARK_BACKEND: 'embedded',
      BULWARK_WEB_DIR: join(REPO, 'web/dist'),
      BULWARK_APP_URL: url,
      // Single sign-on: the IdP's answers come back to this server, and the test IdP
      // (e2e/idp.mjs) is plain http on loopback, which only this setting allows.
      BULWARK_API_URL: url,
      BULWARK_SSO_LOOPBACK_HTTP: 'true',
      // Every test browser comes from 127.0.0.1: the per-IP budget would be spent by the flows.
      BULWARK_ANON_RATE_PER_IP: '100000',
      BULWARK_LOG: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/v1/me`);
      if (r.status === 401) break;
    } catch {
      // not up yet
    }
    if (child.exitCode !== null) throw new Error(`bulwark-server exited: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`bulwark-server did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
    /** The operator creates a tenant; its admin's invitation lands in the outbox. */
    async createTenant(slug, adminEmail) {
      const r = await fetch(`${url}/v1/platform/tenants`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${OPERATOR_TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ slug, name: 'Acme Health', admin_email: adminEmail }),
      });
      if (r.status !== 201) throw new Error(`create tenant: ${r.status} ${await r.text()}`);
    },
    /** The link of the newest email to `to` whose subject contains `subject` (waits for it). */
    async mailedLink(to, subject) {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const dir = join(dataDir, 'outbox');
        let files = [];
        try {
          files = readdirSync(dir).filter((f) => f.endsWith('.eml')).sort().reverse();
        } catch {
          // no mail yet
        }
        for (const f of files) {
          const text = readFileSync(join(dir, f), 'utf8').replace(/=\r?\n/g, '');
          const headers = text.split(/\r?\n\r?\n/)[0];
          if (!new RegExp(`^To:.*${to.replace(/[.@]/g, '\\$&')}`, 'mi').test(headers)) continue;
          if (!headers.toLowerCase().includes(subject.toLowerCase())) continue;
          const m = text.match(/https?:\/\/[^\s"<>]*token=[A-Za-z0-9._~-]+/);
          if (m) return new URL(m[0]).pathname + new URL(m[0]).search;
        }
        if (Date.now() > deadline) throw new Error(`no "${subject}" email to ${to}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}
