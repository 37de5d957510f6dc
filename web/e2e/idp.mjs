// The repository's real identity providers for the browser tests, each installed with npm ci on
// first use. OpenID: tests/idp/oidc (panva's oidc-provider, pinned); it finishes login and
// consent itself, for its one account, so a browser just follows the redirects. SAML 2.0:
// tests/idp/saml/samlify (samlify, pinned); its user is signed in already, so GET /sso answers
// the AuthnRequest at once with the auto-submitting HTTP-POST form to Bulwark's ACS.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { REPO } from './server.mjs';

const DIR = join(REPO, 'tests/idp/oidc');
const SAML_DIR = join(REPO, 'tests/idp/saml/samlify');

/** npm ci in `dir` unless `probe` (a path under it) is there already. */
function install(dir, probe) {
  if (existsSync(join(dir, probe))) return;
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm ci in ${dir} failed`);
}

/** Runs `node server.mjs` in `dir` with IDP_CONFIG = `config`; its first stdout line, parsed. */
async function spawnIdp(dir, config) {
  const child = spawn(process.execPath, ['server.mjs'], {
    cwd: dir,
    env: { ...process.env, IDP_CONFIG: JSON.stringify(config) },
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
  return {
    info: JSON.parse(first),
    /** What the IdP logged so far (stderr), for a failing test's message. */
    log: () => stderr,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    },
  };
}

/** Starts the OpenID provider with `account` ({sub, email, email_verified, name}); Bulwark at `apiUrl`. */
export async function startIdp(apiUrl, account) {
  install(DIR, 'node_modules/oidc-provider');
  const { info, stop } = await spawnIdp(DIR, { callback: `${apiUrl}/v1/sso/oidc/callback`, account });
  return { issuer: info.issuer, clientId: 'bulwark', clientSecret: 'bulwark-secret', stop };
}

/**
 * Starts the SAML IdP (samlify) for Bulwark at `apiUrl`, its signed-in user `email`: answers go
 * to Bulwark's ACS, and only SP entity ids under `apiUrl` are served. Gives its entity id, SSO
 * URL and signing certificate (PEM, a fresh key each run), as an IdP's admin would hand them over.
 */
export async function startSamlIdp(apiUrl, email) {
  install(SAML_DIR, 'node_modules/samlify');
  const { info, log, stop } = await spawnIdp(SAML_DIR, { acs_url: `${apiUrl}/v1/sso/saml/acs`, sp_entity_prefix: apiUrl, email });
  return { entityId: info.entity_id, ssoUrl: info.sso_url, metadataUrl: info.metadata_url, certificate: info.certificate, email, log, stop };
}
