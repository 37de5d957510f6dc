// The web app end to end, in headless Chromium against a fresh local server: the admin of a new
// tenant accepts the invitation and invites two members; a member enrols TOTP and signs in
// with a code; two members exchange messages with an attachment (upload, download, read
// state, recall); the admin wipes a member's device key and that member's open tab is signed
// out; five wrong passwords lock an account; a member cannot reach admin screens. Every screen
// is checked with axe and photographed at both widths; no console error or CSP violation may
// happen anywhere.
import assert from 'node:assert/strict';
import { after, before, test as nodeTest } from 'node:test';

import { axeFindings, checkScreen, launch, newPage, problems, testWithShots } from './browser.mjs';
import { startServer } from './server.mjs';
import { totp } from './totp.mjs';

const PW = 'Correct-Horse-Battery-9';
let server;
let browser;
const pages = {};

before(async () => {
  server = await startServer();
  browser = await launch();
  await server.createTenant('acme', 'admin@acme.test');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A test that, when it fails, keeps a screenshot of every open tab. */
const test = testWithShots(pages, '');

const h1 = (page) => page.getByRole('heading', { level: 1 });

async function signIn(page, email, password = PW) {
  await page.goto('/');
  await h1(page).filter({ hasText: 'Sign in' }).waitFor();
  await page.getByLabel('Organisation').fill('acme');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function accept(page, link, name, { shots = false } = {}) {
  await page.goto(link);
  await h1(page).filter({ hasText: 'Accept your invitation' }).waitFor();
  // The token left the address bar at once.
  assert.ok(!page.url().includes('token='), page.url());
  await page.getByLabel('Your name').fill(name);
  // Live policy feedback: a weak password shows the rules it misses, and the button waits.
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByText('an upper-case letter').waitFor();
  assert.ok(await page.getByRole('button', { name: 'Create my account' }).isDisabled());
  if (shots) await checkScreen(page, 'invitation');
  await page.getByLabel('Password', { exact: true }).fill(PW);
  await page.getByLabel('Repeat the password').fill(PW);
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.getByText('Your account is ready').waitFor();
}

test('the admin accepts the invitation, signs in and invites two members', async () => {
  const page = (pages.admin = await newPage(browser, server.url, 'admin'));
  await page.goto('/');
  await h1(page).filter({ hasText: 'Sign in' }).waitFor();
  await checkScreen(page, 'sign-in');
  await accept(page, await server.mailedLink('admin@acme.test', 'invited'), 'Ada Admin', { shots: true });
  await signIn(page, 'admin@acme.test');
  await h1(page).filter({ hasText: 'Messages' }).waitFor();
  await page.getByText('No conversations yet').waitFor();
  await checkScreen(page, 'conversations-empty');

  await page.getByRole('link', { name: 'Users' }).click();
  await h1(page).filter({ hasText: 'Users' }).waitFor();
  for (const email of ['grace@acme.test', 'henry@acme.test']) {
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Send invitation' }).click();
    await page.getByText(`Invitation sent to ${email}`).waitFor();
  }
  await checkScreen(page, 'admin-users');
});

test('a member accepts, enrols TOTP with the QR code and signs in again with a code', async () => {
  const page = (pages.grace = await newPage(browser, server.url, 'grace'));
  await accept(page, await server.mailedLink('grace@acme.test', 'invited'), 'Grace Hopper');
  await signIn(page, 'grace@acme.test');
  await h1(page).filter({ hasText: 'Messages' }).waitFor();

  await page.getByRole('link', { name: 'Security' }).click();
  await h1(page).filter({ hasText: 'Security' }).waitFor();
  await checkScreen(page, 'security');
  // Security questions first (with MFA off they need only the password), for the recovery later.
  const questions = page.locator('form', { has: page.getByRole('heading', { name: 'Security questions' }) });
  await questions.getByLabel('First question').fill('First hospital?');
  await questions.getByLabel('First answer').fill('St Mary');
  await questions.getByLabel('Second question').fill('First pet?');
  await questions.getByLabel('Second answer').fill('Rex');
  await questions.getByLabel('Password', { exact: true }).fill(PW);
  await questions.getByRole('button', { name: 'Save the questions' }).click();
  await page.getByText('Your security questions are saved').waitFor();
  await page.getByLabel('Password', { exact: true }).first().fill(PW);
  await page.getByRole('button', { name: 'Start' }).click();
  await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
  await page.getByText("Can't scan it?").click();
  const secret = (await page.locator('code.secret').textContent()).trim();
  await checkScreen(page, 'mfa-enrol-qr');
  await page.getByLabel('Code from the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on two-step verification' }).click();
  await page.getByText('Two-step verification is on').waitFor();
  const codes = await page.getByRole('list', { name: 'Recovery codes' }).locator('code').allTextContents();
  assert.equal(codes.length, 10);
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download the codes' }).click();
  assert.equal((await download).suggestedFilename(), 'bulwark-recovery-codes.txt');
  await checkScreen(page, 'mfa-recovery-codes');
  await page.getByRole('button', { name: 'I have saved them' }).click();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('You are signed out').waitFor();
  await signIn(page, 'grace@acme.test');
  await h1(page).filter({ hasText: 'Two-step verification' }).waitFor();
  await checkScreen(page, 'mfa-step');
  // The code of the next time step: the one used to confirm is spent (replay protection).
  await page.getByLabel('Authentication code').fill(totp(secret, Date.now() / 1000 + 30));
  await page.getByRole('button', { name: 'Verify' }).click();
  await h1(page).filter({ hasText: 'Messages' }).waitFor();
});

test('two members exchange messages with an attachment; read state and recall', async () => {
  const henry = (pages.henry = await newPage(browser, server.url, 'henry'));
  await accept(henry, await server.mailedLink('henry@acme.test', 'invited'), 'Henry Ford');
  await signIn(henry, 'henry@acme.test');
  await h1(henry).filter({ hasText: 'Messages' }).waitFor();
  await henry.getByRole('link', { name: 'Account' }).click();
  await h1(henry).filter({ hasText: 'Your account' }).waitFor();
  await checkScreen(henry, 'account');
  const henryId = (await henry.locator('dd code').first().textContent()).trim();

  const grace = pages.grace;
  await grace.getByRole('button', { name: 'New conversation' }).click();
  await grace.getByLabel('Title (optional)').fill('Ward 7 handover');
  await grace.getByLabel('Members by user ID').fill(henryId);
  await checkScreen(grace, 'conversation-new');
  await grace.getByRole('button', { name: 'Start the conversation' }).click();
  await h1(grace).filter({ hasText: 'Ward 7 handover' }).waitFor();

  // An attachment with its upload progress bar, then the message.
  const bytes = Buffer.alloc(3 * 1024 * 1024, 7);
  await grace.locator('input[type=file]').setInputFiles({ name: 'scan.pdf', mimeType: 'application/pdf', buffer: bytes });
  await grace.getByRole('progressbar', { name: 'Uploading scan.pdf' }).waitFor();
  await grace.getByText('Ready').waitFor();
  await grace.getByLabel('Message', { exact: true }).fill('Bed 3 needs a scan review.');
  await grace.getByRole('button', { name: 'Send' }).click();
  await grace.getByRole('log').getByText('Bed 3 needs a scan review.').waitFor();

  // Henry: the unread count, the message, the attachment's bytes.
  await henry.getByRole('link', { name: 'Messages' }).click();
  await henry.getByLabel('1 unread').waitFor();
  await checkScreen(henry, 'conversations');
  await henry.getByRole('link', { name: /Ward 7 handover/ }).click();
  await henry.getByRole('log').getByText('Bed 3 needs a scan review.').waitFor();
  const download = henry.waitForEvent('download');
  await henry.getByRole('button', { name: /Download attachment/ }).click();
  const file = await download;
  assert.equal(file.suggestedFilename(), 'scan.pdf');
  const { readFileSync } = await import('node:fs');
  assert.equal(readFileSync(await file.path()).length, bytes.length);
  await henry.getByLabel('Message', { exact: true }).fill('On it.');
  await henry.getByRole('button', { name: 'Send' }).click();
  await henry.getByRole('log').getByText('On it.').waitFor();
  await checkScreen(henry, 'conversation');

  // Grace sees the reply and that Henry read her message; she recalls a message of hers.
  await grace.getByRole('log').getByText('On it.').waitFor({ timeout: 10_000 });
  await grace.getByLabel('Message', { exact: true }).fill('Wrong ward, sorry');
  await grace.getByRole('button', { name: 'Send' }).click();
  const wrong = grace.getByRole('listitem').filter({ hasText: 'Wrong ward, sorry' });
  await wrong.waitFor();
  await wrong.getByRole('button', { name: 'Recall' }).click();
  await wrong.getByRole('group').getByRole('button', { name: 'Recall' }).click();
  await wrong.waitFor({ state: 'detached' });
  await henry.getByRole('log').getByText('Wrong ward, sorry').waitFor({ state: 'detached', timeout: 10_000 });
  await grace.getByRole('log').getByText(/Seen by 1|Not seen yet/).waitFor();

  // History pages backwards as Henry scrolls up: 35 more messages (sent through the API's
  // JSON mode, as a mobile client would), then a fresh load shows the newest page only.
  const login = await fetch(`${server.url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ tenant: 'acme', email: 'henry@acme.test', password: PW }),
  }).then((r) => r.json());
  const conversationId = new URL(henry.url()).pathname.split('/').pop();
  for (let i = 0; i < 35; i++) {
    const r = await fetch(`${server.url}/v1/conversations/${conversationId}/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${login.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ body: `Filler ${i}` }),
    });
    assert.equal(r.status, 201);
  }
  await henry.reload();
  await henry.getByRole('log').getByText('Filler 34').waitFor();
  assert.equal(await henry.getByRole('log').getByText('Bed 3 needs a scan review.').count(), 0);
  await henry.getByRole('log').evaluate((el) => (el.scrollTop = 0));
  await henry.getByRole('log').getByText('Bed 3 needs a scan review.').waitFor();
  await henry.getByText('Start of the conversation').waitFor();
});

test('the refresh token is an HttpOnly, Secure, SameSite=Strict cookie that brings a reloaded tab back', async () => {
  const grace = pages.grace;
  const cookies = await grace.context().cookies();
  assert.equal(cookies.length, 1, JSON.stringify(cookies.map((c) => c.name)));
  const [c] = cookies;
  assert.deepEqual([c.name, c.path, c.httpOnly, c.secure, c.sameSite], ['bulwark_refresh', '/v1/auth', true, true, 'Strict']);
  // Not readable by scripts, and no token in any storage.
  assert.equal(await grace.evaluate(() => document.cookie), '');
  assert.equal(await grace.evaluate(() => localStorage.length + sessionStorage.length), 1); // the remembered organisation
  assert.equal(await grace.evaluate(() => localStorage.getItem('bulwark.tenant')), 'acme');
  // http://127.0.0.1 is a secure context for Chromium, so the Secure cookie works: a reload
  // restores the session from it.
  await grace.reload();
  await h1(grace).filter({ hasText: 'Ward 7 handover' }).waitFor();
});

test('everything works by keyboard, with a visible focus', async () => {
  const page = (pages.keyboard = await newPage(browser, server.url, 'keyboard'));
  await page.goto('/');
  await h1(page).filter({ hasText: 'Sign in' }).waitFor();
  await page.keyboard.press('Tab'); // the skip link comes first
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.getByLabel('Organisation').focus();
  await page.keyboard.type('acme');
  await page.keyboard.press('Tab');
  await page.keyboard.type('admin@acme.test');
  await page.keyboard.press('Tab');
  await page.keyboard.type(PW);
  await page.keyboard.press('Enter');
  await h1(page).filter({ hasText: 'Messages' }).waitFor();
  // Tab to the Users link in the navigation; its focus ring is drawn; Enter follows it.
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate(() => document.activeElement.textContent)) === 'Users') break;
  }
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  await page.keyboard.press('Enter');
  await h1(page).filter({ hasText: 'Users' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.context().close();
});

test('a member cannot reach the admin screens', async () => {
  const grace = pages.grace;
  assert.equal(await grace.getByRole('link', { name: 'Users' }).count(), 0);
  await grace.goto('/admin/users');
  await h1(grace).filter({ hasText: 'Not available' }).waitFor();
  await checkScreen(grace, 'not-available');
});

test("the admin's device-key reset signs the member's open tab out", async () => {
  const admin = pages.admin;
  await admin.getByRole('link', { name: 'Users' }).click();
  const row = admin.getByRole('listitem').filter({ hasText: 'henry@acme.test' });
  await row.getByRole('button', { name: 'Wipe device key' }).click();
  await checkScreen(admin, 'admin-wipe-confirm');
  await row.getByRole('button', { name: 'Wipe', exact: true }).click();
  await admin.getByText('Device key of Henry Ford reset').waitFor();
  // Henry's tab is on the conversation; its next poll meets 401 and returns to sign-in.
  const henry = pages.henry;
  await h1(henry).filter({ hasText: 'Sign in' }).waitFor({ timeout: 15_000 });
  await henry.getByText('Your session has ended').waitFor();
});

test('five wrong passwords lock the account, and the time left is shown', async () => {
  const page = await newPage(browser, server.url, 'lockout');
  await page.goto('/');
  await page.getByLabel('Organisation').fill('acme');
  await page.getByLabel('Email').fill('henry@acme.test');
  for (let i = 1; i <= 5; i++) {
    await page.getByLabel('Password', { exact: true }).fill(`Wrong-password-${i}`);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/v1/auth/login')),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    assert.equal(resp.status(), 401);
    await page.getByRole('alert').filter({ hasText: 'not right' }).waitFor();
  }
  await page.getByLabel('Password', { exact: true }).fill(PW);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('This account is locked').waitFor();
  assert.match(await page.locator('.countdown').textContent(), /1[45] min/);
  await checkScreen(page, 'lockout');
  await page.context().close();
});

test('the admin screens: policy with validation, audit log with filters', async () => {
  const admin = pages.admin;
  await admin.getByRole('link', { name: 'Policy' }).click();
  await h1(admin).filter({ hasText: 'Tenant policy' }).waitFor();
  await admin.getByLabel('Lock the mobile app after (minutes)').fill('30');
  await admin.getByText('Enter a whole number of minutes from 1 to 15.').waitFor();
  await checkScreen(admin, 'admin-policy');
  await admin.getByLabel('Lock the mobile app after (minutes)').fill('10');
  await admin.getByRole('button', { name: 'Save the policy' }).click();
  await admin.getByText('The policy is saved').waitFor();

  await admin.getByRole('link', { name: 'Audit log' }).click();
  await h1(admin).filter({ hasText: 'Audit log' }).waitFor();
  await admin.getByRole('cell', { name: 'login.success' }).first().waitFor();
  await admin.getByLabel('Action').selectOption('login.failure');
  await admin.getByRole('cell', { name: 'login.failure' }).first().waitFor();
  assert.equal(await admin.getByRole('cell', { name: 'login.success' }).count(), 0);
  await checkScreen(admin, 'admin-audit');
});

test('the screens without a session: forgot, reset, recovery, forced password change', async () => {
  const page = await newPage(browser, server.url, 'anonymous');
  await page.goto('/forgot');
  await page.getByLabel('Organisation').fill('acme');
  await page.getByLabel('Email').fill('grace@acme.test');
  await page.getByRole('button', { name: 'Send the link' }).click();
  await page.getByText('If an account exists').waitFor();
  await checkScreen(page, 'forgot');
  await page.goto(await server.mailedLink('grace@acme.test', 'Reset'));
  await h1(page).filter({ hasText: 'Choose a new password' }).waitFor();
  await page.getByLabel('New password').fill('weak');
  await checkScreen(page, 'reset-password');
  await page.goto('/recover');
  await h1(page).filter({ hasText: 'Recover two-step verification' }).waitFor();
  await checkScreen(page, 'recover');
  await page.context().close();

  // The admin forces a password change on Grace while her tab is open: its next poll meets
  // 403 password_change_required and the change itself is the only screen left.
  const grace = pages.grace;
  await grace.getByRole('link', { name: 'Messages' }).click();
  await h1(grace).filter({ hasText: 'Messages' }).waitFor();
  const admin = pages.admin;
  await admin.getByRole('link', { name: 'Users' }).click();
  const row = admin.getByRole('listitem').filter({ hasText: 'grace@acme.test' });
  await row.getByRole('button', { name: 'Require password change' }).click();
  await row.getByRole('button', { name: 'Confirm' }).click();
  await admin.getByText('must change their password').waitFor();
  await h1(grace).filter({ hasText: 'Change your password to continue' }).waitFor({ timeout: 10_000 });
  await checkScreen(grace, 'forced-password-change');
  await grace.getByLabel('Current password').fill(PW);
  await grace.getByLabel('New password').fill('Another-Strong-Pass-42');
  await grace.getByLabel('Repeat the password').fill('Another-Strong-Pass-42');
  await grace.getByRole('button', { name: 'Change password' }).click();
  await h1(grace).filter({ hasText: 'Messages' }).waitFor();
});

test('events: the organizer runs the CMS, members register and wait, announcements arrive', async () => {
  const admin = pages.admin;
  await admin.getByRole('link', { name: 'Events' }).click();
  await h1(admin).filter({ hasText: 'Events' }).waitFor();
  await admin.getByRole('link', { name: 'New event' }).click();
  await h1(admin).filter({ hasText: 'New event' }).waitFor();
  await admin.getByLabel('Title', { exact: true }).fill('Cardiology update');
  // An end before the start is caught before it reaches the API.
  await admin.getByLabel('Starts').fill('2031-03-02T09:00');
  await admin.getByLabel('Ends').fill('2031-03-02T08:00');
  await admin.getByRole('button', { name: 'Create the draft' }).click();
  await admin.getByText('The end must be after the start.').waitFor();
  await checkScreen(admin, 'event-new');
  await admin.getByLabel('Ends').fill('2031-03-02T17:00');
  await admin.getByLabel('Location (optional)').fill('Hall B');
  await admin.getByLabel('Capacity (optional)').fill('1');
  await admin.getByRole('button', { name: 'Create the draft' }).click();
  await h1(admin).filter({ hasText: 'Cardiology update' }).waitFor();
  await admin.getByLabel('Session title').fill('Opening keynote');
  await admin.getByLabel('Session starts').fill('2031-03-02T09:00');
  await admin.getByLabel('Session ends').fill('2031-03-02T10:00');
  await admin.getByLabel('Streamed live').check();
  await admin.getByRole('button', { name: 'Add the session' }).click();
  await admin.getByRole('listitem').filter({ hasText: 'Opening keynote' }).waitFor();
  await admin.getByRole('button', { name: 'Publish' }).click();
  await admin.getByText('The event is published').waitFor();
  // The admin takes the only place; Grace joins the waiting list.
  await admin.getByRole('button', { name: 'Register' }).click();
  await admin.getByText('You are registered.', { exact: true }).waitFor();

  const grace = pages.grace;
  await grace.getByRole('link', { name: 'Events' }).click();
  await grace.getByRole('link', { name: /Cardiology update/ }).click();
  await grace.getByRole('button', { name: 'Join the waiting list' }).click();
  await grace.getByText('You are on the waiting list.', { exact: true }).waitFor();
  await checkScreen(grace, 'event-attendee');

  // The admin gives the place up: Grace is promoted and sees announcements.
  await admin.getByRole('button', { name: 'Cancel my registration' }).click();
  await admin.getByRole('button', { name: 'Give it up' }).click();
  // Grace took the place, so the event is full again.
  await admin.getByRole('button', { name: 'Join the waiting list' }).waitFor();
  await admin.getByLabel('Announcement title').fill('Room change');
  await admin.getByLabel('Announcement text').fill('The keynote moves to Hall C.');
  await admin.getByRole('button', { name: 'Send the announcement' }).click();
  await admin.getByRole('heading', { name: 'Room change' }).waitFor();
  await admin.getByRole('cell', { name: 'Grace Hopper' }).waitFor();
  await checkScreen(admin, 'event-organizer');
  await grace.reload();
  await grace.getByText('You are registered.', { exact: true }).waitFor();
  await grace.getByText('The keynote moves to Hall C.').waitFor();

  // A live session's pass needs the tenant's Agora credentials (Integrations, admin only).
  await grace.getByRole('button', { name: 'Get my live pass' }).click();
  await grace.getByRole('alert').filter({ hasText: /not (been )?(set up|configured)|integration/i }).waitFor();
  await admin.getByRole('link', { name: 'Integrations' }).click();
  await admin.getByLabel('App ID').fill('nothex');
  await admin.getByRole('button', { name: 'Save the credentials' }).click();
  await admin.getByText('The App ID is 32 hexadecimal characters.').waitFor();
  await admin.getByLabel('App ID').fill('0123456789abcdef0123456789abcdef');
  await admin.getByLabel('App Certificate').fill('fedcba9876543210fedcba9876543210');
  await admin.getByRole('button', { name: 'Save the credentials' }).click();
  await admin.getByText('The Agora credentials are saved').waitFor();
  await checkScreen(admin, 'admin-integrations');
  await grace.getByRole('button', { name: 'Get my live pass' }).click();
  await grace.getByText('You may join as a viewer').waitFor();
  await grace.getByRole('link', { name: 'All events' }).click();
  await h1(grace).filter({ hasText: 'Events' }).waitFor();
  await checkScreen(grace, 'events');
});

test('the alternate recovery: security answers, the emailed link, MFA off and enrolment again', async () => {
  const page = (pages.recovery = await newPage(browser, server.url, 'recovery'));
  await page.goto('/recover');
  await page.getByLabel('Organisation').fill('acme');
  await page.getByLabel('Email').fill('grace@acme.test');
  await page.getByLabel('Answer to your first question').fill('st mary ');
  await page.getByLabel('Answer to your second question').fill('REX');
  await page.getByRole('button', { name: 'Send the recovery link' }).click();
  await page.getByText('If the answers are right').waitFor();
  await page.goto(await server.mailedLink('grace@acme.test', 'Recover'));
  await h1(page).filter({ hasText: 'Sign in without your authenticator' }).waitFor();
  await checkScreen(page, 'recover-confirm');
  await page.getByLabel('Password', { exact: true }).fill('Another-Strong-Pass-42');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await h1(page).filter({ hasText: 'Security' }).waitFor();
  await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
  await page.context().close();
});

test("the tenant's MFA requirement gates a session without MFA until it enrols", async () => {
  const admin = pages.admin;
  await admin.getByRole('link', { name: 'Policy' }).click();
  await admin.getByLabel('Require two-step verification for everyone').check();
  await admin.getByRole('button', { name: 'Save the policy' }).click();
  // The admin has no MFA: the open conversation list's polling meets 403
  // mfa_enrollment_required once its route's policy cache (10 s) has expired.
  await admin.getByRole('link', { name: 'Messages' }).click();
  await h1(admin).filter({ hasText: 'Security' }).waitFor({ timeout: 20_000 });
  await admin.getByText('Your organisation requires two-step verification').waitFor();
  await checkScreen(admin, 'mfa-required');
  assert.equal(await admin.getByRole('link', { name: 'Messages' }).count(), 0);
  await admin.getByLabel('Password', { exact: true }).fill(PW);
  await admin.getByRole('button', { name: 'Start' }).click();
  await admin.getByText("Can't scan it?").click();
  const secret = (await admin.locator('code.secret').textContent()).trim();
  await admin.getByLabel('Code from the app').fill(totp(secret));
  await admin.getByRole('button', { name: 'Turn on two-step verification' }).click();
  await admin.getByRole('button', { name: 'I have saved them' }).click();
  await admin.getByRole('link', { name: 'Audit log' }).click();
  await h1(admin).filter({ hasText: 'Audit log' }).waitFor();
  await admin.getByRole('cell', { name: 'mfa.enable' }).first().waitFor();
});

nodeTest('no console error, CSP violation or serious accessibility violation anywhere', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(axeFindings, []);
});
