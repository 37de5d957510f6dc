// Single sign-on end to end, in headless Chromium against a fresh local server and the
// repository's real OpenID provider (tests/idp/oidc): the admin connects OIDC on the Single
// sign-on screen (a wrong issuer's error shows next to the field); without just-in-time
// accounts a new person is refused with a clear sentence; with them, "Sign in with single
// sign-on" ends on the messages screen with the refresh token in the HttpOnly cookie only, and a
// reload keeps the session; SAML is connected too (a bad certificate's error next to the field),
// the sign-in screen then offers both and SAML's start reaches the IdP's SSO URL with a
// SAMLRequest; the policy's sso_required toggle leaves admins their password; the connections
// are removed. Axe and screenshots on each new screen, no console error or CSP
// violation anywhere. Then SAML for real, against the repository's samlify IdP
// (tests/idp/saml/samlify): the admin enters its entity ID, SSO URL and certificate by hand;
// without just-in-time accounts its new user is refused (access_denied); with them, the browser
// goes to the IdP, whose page auto-posts the signed Response to Bulwark's ACS, and the app lands
// on the messages screen with the same guarantees as OIDC's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test as nodeTest } from 'node:test';

import { axeFindings, checkScreen, launch, newPage, problems, testWithShots } from './browser.mjs';
import { startIdp, startSamlIdp } from './idp.mjs';
import { startServer } from './server.mjs';

const PW = 'Correct-Horse-Battery-9';
const ACCOUNT = { sub: 'ivy-0001', email: 'ivy@acme.test', email_verified: true, name: 'Ivy Okafor' };
let server;
let idp;
let samlIdp;
let browser;
const pages = {};

before(async () => {
  server = await startServer();
  idp = await startIdp(server.url, ACCOUNT);
  samlIdp = await startSamlIdp(server.url, 'sam@acme.test');
  browser = await launch();
  await server.createTenant('acme', 'admin@acme.test');
});

after(async () => {
  await browser?.close();
  await idp?.stop();
  await samlIdp?.stop();
  await server?.stop();
});

/** A test that, when it fails, keeps a screenshot of every open tab. */
const test = testWithShots(pages, 'sso-');

const h1 = (page) => page.getByRole('heading', { level: 1 });

/**
 * What a finished single sign-on leaves: the login code out of the address bar, exchanged
 * exactly once; the refresh token in an HttpOnly cookie that scripts cannot read; nothing in
 * storage but the remembered organisation (the PKCE verifier is gone after its one exchange);
 * and a reload that comes back through the cookie.
 */
async function keptOnlyTheCookie(page, exchanges) {
  assert.ok(!page.url().includes('login_code'), page.url());
  assert.equal(exchanges.length, 1);
  const cookie = (await page.context().cookies()).find((c) => c.name === 'bulwark_refresh');
  assert.ok(cookie, 'the refresh cookie');
  assert.deepEqual([cookie.path, cookie.httpOnly, cookie.sameSite], ['/v1/auth', true, 'Strict']);
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('bulwark_refresh'));
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), ['bulwark.tenant']);
  await page.reload();
  await h1(page).filter({ hasText: 'Messages' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

async function anonymousPage(name) {
  return (pages[name] = await newPage(browser, server.url, name));
}

async function passwordSignIn(page, email) {
  await page.goto('/');
  await h1(page).filter({ hasText: 'Sign in' }).waitFor();
  await page.getByLabel('Organisation').fill('acme');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PW);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** A person new to the tenant follows "Sign in with single sign-on" through the IdP and back. */
async function ssoSignIn(page) {
  const exchanges = [];
  page.on('request', (r) => {
    if (r.url().includes('/v1/auth/sso/exchange')) exchanges.push(r.url());
  });
  const callbacks = [];
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame() && f.url().includes('/sso/callback')) callbacks.push(f.url());
  });
  await page.goto('/');
  await h1(page).filter({ hasText: 'Sign in' }).waitFor();
  await page.getByLabel('Organisation').fill('acme');
  await page.getByRole('button', { name: 'Sign in with single sign-on' }).click();
  return { exchanges, callbacks };
}

test('the admin connects OIDC on the Single sign-on screen', async () => {
  const page = (pages.admin = await newPage(browser, server.url, 'admin'));
  await page.goto(await server.mailedLink('admin@acme.test', 'invited'));
  await page.getByLabel('Your name').fill('Ada Admin');
  await page.getByLabel('Password', { exact: true }).fill(PW);
  await page.getByLabel('Repeat the password').fill(PW);
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.getByText('Your account is ready').waitFor();
  await passwordSignIn(page, 'admin@acme.test');
  await h1(page).filter({ hasText: 'Messages' }).waitFor();

  await page.getByRole('link', { name: 'Single sign-on', exact: true }).click();
  await h1(page).filter({ hasText: 'Single sign-on' }).waitFor();
  // What the IdP's administrator needs, read-only.
  await page.getByText(`${server.url}/v1/sso/oidc/callback`, { exact: true }).waitFor();
  await page.getByText(`${server.url}/v1/sso/acme/saml/metadata`, { exact: true }).waitFor();
  await page.getByText(`${server.url}/v1/sso/saml/acs`, { exact: true }).waitFor();
  const oidc = page.getByRole('form', { name: 'OIDC settings' });
  // This app's own callback is filled in.
  assert.equal(await oidc.getByLabel('Redirect URIs').inputValue(), `${server.url}/sso/callback`);
  // The client-side checks first, then the server's: an issuer that does not answer.
  await oidc.getByRole('button', { name: 'Save the OIDC settings' }).click();
  await oidc.getByText('Enter the client ID the identity provider gave you.').waitFor();
  await oidc.getByLabel('Issuer URL').fill('http://127.0.0.1:9/nothing');
  await oidc.getByLabel('Client ID').fill(idp.clientId);
  await oidc.getByLabel('Client secret').fill(idp.clientSecret);
  await oidc.getByRole('button', { name: 'Save the OIDC settings' }).click();
  const issuerError = oidc.locator('.field', { has: page.getByLabel('Issuer URL') }).locator('.field-error');
  await issuerError.filter({ hasText: /discovery|unreachable/ }).waitFor();
  await checkScreen(page, 'admin-sso');
  // The real IdP; new people are not let in yet.
  await oidc.getByLabel('Issuer URL').fill(idp.issuer);
  await oidc.getByRole('button', { name: 'Save the OIDC settings' }).click();
  await page.getByText('The OIDC settings are saved').waitFor();
  await oidc.getByText('A secret is set').waitFor();
  await page.getByRole('heading', { name: /OpenID Connect.*Connected/ }).waitFor();
  await checkScreen(page, 'admin-sso-connected');
});

test('without just-in-time accounts, a new person is refused with a clear sentence', async () => {
  const page = await anonymousPage('refused');
  const { callbacks } = await ssoSignIn(page);
  await h1(page).filter({ hasText: 'Single sign-on did not work' }).waitFor();
  await page.getByRole('alert').filter({ hasText: 'no active Bulwark account for you' }).waitFor();
  // Bulwark sent ?error=access_denied; the app took it out of the address bar.
  assert.ok(callbacks.some((u) => u.includes('error=access_denied')), JSON.stringify(callbacks));
  assert.ok(!page.url().includes('error='), page.url());
  await checkScreen(page, 'sso-error');
  await page.getByRole('button', { name: 'Back to sign in' }).click();
  await h1(page).filter({ hasText: 'Sign in' }).waitFor();
  await page.context().close();
});

test('with them, "Sign in with single sign-on" ends in the app, the refresh token in the HttpOnly cookie only', async () => {
  const admin = pages.admin;
  const oidc = admin.getByRole('form', { name: 'OIDC settings' });
  await oidc.getByLabel('Create an account at the first sign-in').check();
  await oidc.getByLabel('Role of the accounts created').selectOption('member');
  // Only member, auditor, organizer: never admin.
  assert.deepEqual(await oidc.getByLabel('Role of the accounts created').locator('option').evaluateAll((os) => os.map((o) => o.value)), [
    'member',
    'auditor',
    'organizer',
  ]);
  await oidc.getByLabel('Client secret (replace)').fill(idp.clientSecret);
  await oidc.getByRole('button', { name: 'Save the OIDC settings' }).click();
  await admin.getByText('The OIDC settings are saved').waitFor();

  const page = await anonymousPage('ivy');
  await page.goto('/');
  await page.getByLabel('Organisation').fill('acme');
  await page.getByRole('button', { name: 'Sign in with single sign-on' }).waitFor();
  await checkScreen(page, 'sign-in-sso');
  const { exchanges, callbacks } = await ssoSignIn(page);
  await h1(page).filter({ hasText: 'Messages' }).waitFor();
  await page.getByText('No conversations yet').waitFor();
  // The login code came back in the URL, left it at once, and was exchanged exactly once.
  assert.ok(callbacks.some((u) => u.includes('login_code=')), JSON.stringify(callbacks));
  await keptOnlyTheCookie(page, exchanges);

  // The admin sees the account made just in time, as a member.
  await admin.getByRole('link', { name: 'Users' }).click();
  const row = admin.getByRole('listitem').filter({ hasText: 'ivy@acme.test' });
  assert.equal(await row.getByLabel(/Role of/).inputValue(), 'member');
});

/** A throwaway self-signed certificate, as an IdP's signing certificate (PEM). */
function selfSignedPem() {
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=idp.example.test', '-days', '30'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return r.stdout.trim();
}

test('the admin connects SAML too; the sign-in screen then offers both, and SAML starts at the IdP', async () => {
  const admin = pages.admin;
  await admin.getByRole('link', { name: 'Single sign-on', exact: true }).click();
  const saml = admin.getByRole('form', { name: 'SAML settings' });
  await saml.getByLabel('Enter its entity ID, sign-on URL and certificates').check();
  await saml.getByRole('button', { name: 'Save the SAML settings' }).click();
  await saml.getByText('Paste at least one signing certificate (PEM).').waitFor();
  await saml.getByLabel('IdP entity ID').fill('https://idp.example.test/entity');
  await saml.getByLabel('IdP single sign-on URL').fill('https://idp.example.test/sso');
  // Not a certificate: the server's answer goes next to the field.
  await saml.getByLabel('Signing certificates (PEM)').fill('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----');
  await saml.getByRole('button', { name: 'Save the SAML settings' }).click();
  const certError = saml.locator('.field', { has: admin.getByLabel('Signing certificates (PEM)') }).locator('.field-error');
  await certError.filter({ hasText: 'signing_certificates' }).waitFor();
  await saml.getByLabel('Signing certificates (PEM)').fill(selfSignedPem());
  await saml.getByLabel('Create an account at the first sign-in').check();
  await saml.getByRole('button', { name: 'Save the SAML settings' }).click();
  await admin.getByText('The SAML settings are saved').waitFor();
  await admin.getByRole('heading', { name: /SAML 2\.0.*Connected/ }).waitFor();
  await admin.getByText(/^[0-9A-Fa-f:]{64,}$/).first().waitFor(); // the certificate's fingerprint
  await checkScreen(admin, 'admin-sso-saml');

  const page = await anonymousPage('saml');
  const starts = [];
  await page.context().route('https://idp.example.test/**', (route) => {
    starts.push(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/plain', body: 'the IdP' });
  });
  await page.goto('/');
  await page.getByLabel('Organisation').fill('acme');
  await page.getByRole('button', { name: 'Sign in with single sign-on (OIDC)' }).waitFor();
  await checkScreen(page, 'sign-in-sso-both');
  await page.getByRole('button', { name: 'Sign in with single sign-on (SAML)' }).click();
  await page.waitForURL(/idp\.example\.test/);
  const url = new URL(starts[0]);
  assert.equal(url.pathname, '/sso');
  assert.ok(url.searchParams.get('SAMLRequest'), starts[0]);
  assert.ok(url.searchParams.get('RelayState'), starts[0]);
  await page.context().close();

  await admin.getByRole('button', { name: 'Remove SAML' }).click();
  await admin.getByRole('button', { name: 'Remove', exact: true }).click();
  await admin.getByText('The SAML connection is removed').waitFor();
  await admin.getByRole('heading', { name: /SAML 2\.0.*Not connected/ }).waitFor();
});

/**
 * A person new to the tenant follows "Sign in with single sign-on (SAML)": the tab goes to the
 * IdP, the IdP's page (its own, not ours: our CSP does not govern it) auto-submits its form to
 * Bulwark's ACS, which redirects to the app's /sso/callback. Records each leg on the way.
 */
async function samlSignIn(page) {
  const exchanges = [];
  const acsPosts = [];
  page.on('request', (r) => {
    if (r.url().includes('/v1/auth/sso/exchange')) exchanges.push(r.url());
    if (r.url() === `${server.url}/v1/sso/saml/acs`) acsPosts.push({ method: r.method(), body: new URLSearchParams(r.postData() ?? '') });
  });
  const navigations = [];
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) navigations.push(f.url());
  });
  await page.goto('/');
  await h1(page).filter({ hasText: 'Sign in' }).waitFor();
  await page.getByLabel('Organisation').fill('acme');
  await page.getByRole('button', { name: 'Sign in with single sign-on (SAML)' }).click();
  return {
    exchanges,
    acsPosts,
    navigations,
    /** The legs before the app: the IdP's SSO URL with an AuthnRequest, one POST to the ACS. */
    checkTrip() {
      const idpStop = navigations.find((u) => u.startsWith(samlIdp.ssoUrl));
      assert.ok(idpStop, `the tab went to the IdP: ${JSON.stringify(navigations)}\n${samlIdp.log()}`);
      const q = new URL(idpStop).searchParams;
      assert.ok(q.get('SAMLRequest') && q.get('RelayState'), idpStop);
      assert.equal(acsPosts.length, 1, JSON.stringify(acsPosts));
      assert.equal(acsPosts[0].method, 'POST');
      assert.ok(acsPosts[0].body.get('SAMLResponse'));
      assert.equal(acsPosts[0].body.get('RelayState'), q.get('RelayState'));
    },
  };
}

test('the admin connects a real SAML IdP by hand; without just-in-time accounts a new person is refused', async () => {
  const admin = pages.admin;
  await admin.getByRole('link', { name: 'Single sign-on', exact: true }).click();
  await admin.getByRole('heading', { name: /SAML 2\.0.*Not connected/ }).waitFor();
  const saml = admin.getByRole('form', { name: 'SAML settings' });
  await saml.getByLabel('Enter its entity ID, sign-on URL and certificates').check();
  await saml.getByLabel('IdP entity ID').fill(samlIdp.entityId);
  await saml.getByLabel('IdP single sign-on URL').fill(samlIdp.ssoUrl);
  await saml.getByLabel('Signing certificates (PEM)').fill(samlIdp.certificate);
  // This app's own callback is filled in; new people are not let in yet.
  assert.equal(await saml.getByLabel('Redirect URIs').inputValue(), `${server.url}/sso/callback`);
  assert.equal(await saml.getByLabel('Create an account at the first sign-in').isChecked(), false);
  await saml.getByRole('button', { name: 'Save the SAML settings' }).click();
  await admin.getByText('The SAML settings are saved').waitFor();
  await admin.getByRole('heading', { name: /SAML 2\.0.*Connected/ }).waitFor();
  await admin.getByText(samlIdp.entityId, { exact: true }).waitFor();

  const page = await anonymousPage('saml-refused');
  const trip = await samlSignIn(page);
  await h1(page).filter({ hasText: 'Single sign-on did not work' }).waitFor();
  await page.getByRole('alert').filter({ hasText: 'no active Bulwark account for you' }).waitFor();
  trip.checkTrip();
  // Bulwark sent ?error=access_denied; the app took it out of the address bar; nothing exchanged.
  assert.ok(trip.navigations.some((u) => u.includes('/sso/callback') && u.includes('error=access_denied')), JSON.stringify(trip.navigations));
  assert.ok(!page.url().includes('error='), page.url());
  assert.equal(trip.exchanges.length, 0);
  assert.equal((await page.context().cookies()).filter((c) => c.name === 'bulwark_refresh').length, 0);
  await checkScreen(page, 'sso-saml-error');
  await page.context().close();
});

test('with them, SAML sign-in goes through the IdP\'s form to the ACS and ends in the app', async () => {
  const admin = pages.admin;
  const saml = admin.getByRole('form', { name: 'SAML settings' });
  await saml.getByLabel('Create an account at the first sign-in').check();
  await saml.getByLabel('Role of the accounts created').selectOption('member');
  // The stored certificates are never shown: a change needs them pasted again.
  await saml.getByLabel('Signing certificates (PEM)').fill(samlIdp.certificate);
  await saml.getByRole('button', { name: 'Save the SAML settings' }).click();
  await admin.getByText('The SAML settings are saved').waitFor();

  const page = await anonymousPage('sam');
  const trip = await samlSignIn(page);
  await h1(page).filter({ hasText: 'Messages' }).waitFor();
  await page.getByText('No conversations yet').waitFor();
  trip.checkTrip();
  // The login code came back in the URL, left it at once, and was exchanged exactly once.
  assert.ok(trip.navigations.some((u) => u.startsWith(`${server.url}/sso/callback?`) && u.includes('login_code=')), JSON.stringify(trip.navigations));
  await keptOnlyTheCookie(page, trip.exchanges);
  await page.context().close();

  // The admin sees the account made just in time, as a member; then removes SAML.
  await admin.getByRole('link', { name: 'Users' }).click();
  const row = admin.getByRole('listitem').filter({ hasText: 'sam@acme.test' });
  assert.equal(await row.getByLabel(/Role of/).inputValue(), 'member');
  await admin.getByRole('link', { name: 'Single sign-on', exact: true }).click();
  await admin.getByRole('button', { name: 'Remove SAML' }).click();
  await admin.getByRole('button', { name: 'Remove', exact: true }).click();
  await admin.getByText('The SAML connection is removed').waitFor();
  await admin.getByRole('heading', { name: /SAML 2\.0.*Not connected/ }).waitFor();
});

test('a callback opened again (back button, reload) or from elsewhere does not sign anyone in', async () => {
  const page = await anonymousPage('replay');
  // A code from a sign-in this tab did not start (login CSRF) is not even exchanged.
  let exchanged = false;
  page.on('request', (r) => r.url().includes('/v1/auth/sso/exchange') && (exchanged = true));
  await page.goto('/sso/callback?login_code=not-a-real-code');
  await h1(page).filter({ hasText: 'Single sign-on did not work' }).waitFor();
  await page.getByText('not started from this browser tab').waitFor();
  assert.equal(exchanged, false);
  assert.ok(!page.url().includes('login_code'), page.url());
  await page.goto('/sso/callback');
  await page.getByText('opened without an answer').waitFor();
  await page.context().close();
});

test('requiring single sign-on leaves admins their password', async () => {
  const admin = pages.admin;
  await admin.getByRole('link', { name: 'Policy', exact: true }).click();
  await h1(admin).filter({ hasText: 'Tenant policy' }).waitFor();
  await admin.getByText('Administrators keep password sign-in').waitFor();
  await admin.getByLabel('Require single sign-on').check();
  await admin.getByRole('button', { name: 'Save the policy' }).click();
  await admin.getByText('The policy is saved').waitFor();
  await checkScreen(admin, 'admin-policy-sso');

  const page = await anonymousPage('break-glass');
  await passwordSignIn(page, 'admin@acme.test');
  await h1(page).filter({ hasText: 'Messages' }).waitFor();
  await page.context().close();
});

test('the admin removes the OIDC connection', async () => {
  const admin = pages.admin;
  await admin.getByRole('link', { name: 'Single sign-on', exact: true }).click();
  await admin.getByRole('button', { name: 'Remove OIDC' }).click();
  await admin.getByRole('button', { name: 'Remove', exact: true }).click();
  await admin.getByText('The OIDC connection is removed').waitFor();
  await admin.getByRole('heading', { name: /OpenID Connect.*Not connected/ }).waitFor();
  const page = await anonymousPage('after-removal');
  await page.goto('/');
  await Promise.all([
    page.waitForResponse((r) => r.url().includes('/v1/sso/acme/methods')),
    page.getByLabel('Organisation').fill('acme'),
  ]);
  await page.waitForTimeout(100);
  assert.equal(await page.getByRole('button', { name: 'Sign in with single sign-on' }).count(), 0);
  await page.context().close();
});

nodeTest('no console error, CSP violation or serious accessibility violation anywhere', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(axeFindings, []);
});
