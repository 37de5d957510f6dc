// The repository's real OpenID provider for the browser tests (tests/idp/oidc: panva's
// oidc-provider, pinned; installed with npm ci on first use). It finishes login and consent
// itself, for its one account, so a browser just follows the redirects.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { REPO } from './server.mjs';

const DIR = join(REPO, 'tests/idp/oidc');

/** Starts the IdP with `account` ({sub, email, email_verified, name}); Bulwark at `apiUrl`. */
export async function startIdp(apiUrl, account) {
  if (!existsSync(join(DIR, 'node_modules/oidc-provider'))) {
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: DIR, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm ci in tests/idp/oidc failed');
  }
  const child = spawn(process.execPath, ['server.mjs'], {
    cwd: DIR,
    env: { ...process.env, IDP_CONFIG: JSON.stringify({ callback: `${apiUrl}/v1/sso/oidc/callback`, account }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    new Promise((ok) => lines.once('line', ok)),
    new Promise((_, fail) => child.once('exit', (code) => fail(new Error(`IdP exited (${code}): ${stderr}`)))),
    new Promise((_, fail) => setTimeout(() => fail(new Error(`IdP did not start: ${stderr}`)), 30_000)),
  ]);
  const { issuer } = JSON.parse(first);
  return {
    issuer,
    clientId: 'bulwark',
    clientSecret: 'bulwark-secret',
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    },
  };
}
