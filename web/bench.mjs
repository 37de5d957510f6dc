// scripts/bench's web step: the gzipped JavaScript of web/dist (budget: 150 KB on first load)
// and the time each screen takes to render against a fresh local server (budget: 1 s), from
// navigation to its heading on screen, a full page load each time (so it includes the cookie
// refresh that restores the session). Prints a markdown table; writes bench/web.json.
//
//   node web/bench.mjs [results.json]     (BULWARK_SERVER_BIN: the server binary to run)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { launch, newPage } from './e2e/browser.mjs';
import { REPO, startServer } from './e2e/server.mjs';

const JS_BUDGET_KB = 150;
const RENDER_BUDGET_MS = 1000;
const PW = 'Correct-Horse-Battery-9';
const ROUNDS = 5;

function jsSize() {
  const dir = join(REPO, 'web/dist/assets');
  const html = readFileSync(join(REPO, 'web/dist/index.html'), 'utf8');
  // What the first load fetches: the scripts index.html names (Vite emits one entry chunk).
  const files = readdirSync(dir).filter((f) => f.endsWith('.js') && html.includes(f));
  const raw = files.reduce((n, f) => n + readFileSync(join(dir, f)).length, 0);
  const gz = files.reduce((n, f) => n + gzipSync(readFileSync(join(dir, f)), { level: 9 }).length, 0);
  return { files, raw_kb: raw / 1024, gzip_kb: gz / 1024 };
}

async function api(server, method, path, token, body) {
  const r = await fetch(server.url + path, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A tenant with an admin, a member, a conversation with 60 messages and an event. */
async function seed(server) {
  await server.createTenant('bench', 'admin@bench.test');
  const accept = async (email, name) => {
    const token = new URLSearchParams((await server.mailedLink(email, 'invited')).split('?')[1]).get('token');
    return (await api(server, 'POST', '/v1/invitations/accept', null, { token, password: PW, display_name: name })).user_id;
  };
  await accept('admin@bench.test', 'Ada Admin');
  const login = async (email) =>
    (await api(server, 'POST', '/v1/auth/login', null, { tenant: 'bench', email, password: PW })).access_token;
  const admin = await login('admin@bench.test');
  await api(server, 'POST', '/v1/admin/invitations', admin, { email: 'grace@bench.test', role: 'member' });
  const grace = await accept('grace@bench.test', 'Grace Hopper');
  const { conversation_id } = await api(server, 'POST', '/v1/conversations', admin, { title: 'Ward 7', member_ids: [grace] });
  for (let i = 0; i < 60; i++)
    await api(server, 'POST', `/v1/conversations/${conversation_id}/messages`, admin, { body: `Message ${i} of the bench` });
  const { event_id } = await api(server, 'POST', '/v1/events', admin, {
    title: 'Bench congress',
    starts_at: '2031-05-01T09:00:00Z',
    ends_at: '2031-05-01T17:00:00Z',
    timezone: 'UTC',
  });
  await api(server, 'POST', `/v1/events/${event_id}/sessions`, admin, {
    title: 'Keynote',
    starts_at: '2031-05-01T09:00:00Z',
    ends_at: '2031-05-01T10:00:00Z',
    live: false,
  });
  await api(server, 'POST', `/v1/events/${event_id}/publish`, admin);
  return { conversation_id, event_id };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const out = process.argv[2] || join(REPO, 'bench/web.json');
  const size = jsSize();
  const server = await startServer();
  const browser = await launch();
  const rows = [];
  try {
    const { conversation_id, event_id } = await seed(server);
    const anon = await newPage(browser, server.url, 'bench-anonymous');
    const page = await newPage(browser, server.url, 'bench');
    await page.goto('/');
    await page.getByLabel('Organisation').fill('bench');
    await page.getByLabel('Email').fill('admin@bench.test');
    await page.getByLabel('Password', { exact: true }).fill(PW);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
    const screens = [
      [anon, 'sign-in', '/', 'Sign in to Bulwark'],
      [anon, 'forgot password', '/forgot', 'Reset your password'],
      [anon, 'invitation', '/invite?token=x', 'Accept your invitation'],
      [page, 'conversations', '/messages', 'Messages'],
      [page, 'conversation (60 messages)', `/messages/${conversation_id}`, 'Ward 7', 'Message 59 of the bench'],
      [page, 'events', '/events', 'Events'],
      [page, 'event', `/events/${event_id}`, 'Bench congress', 'Keynote'],
      [page, 'users', '/admin/users', 'Users', 'grace@bench.test'],
      [page, 'policy', '/admin/policy', 'Tenant policy', 'Fixed rules'],
      [page, 'audit log', '/admin/audit', 'Audit log', 'loaded events shown'],
      [page, 'security', '/security', 'Security'],
      [page, 'account', '/account', 'Your account'],
    ];
    for (const [p, name, path, heading, content] of screens) {
      const times = [];
      for (let i = 0; i < ROUNDS; i++) {
        const start = performance.now();
        await p.goto(path);
        await p.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
        if (content) await p.getByText(content).first().waitFor();
        times.push(performance.now() - start);
      }
      rows.push({ screen: name, path: path.replace(/[0-9a-f]{32}/, ':id'), median_ms: median(times), max_ms: Math.max(...times) });
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  const results = {
    js_first_load: { ...size, budget_kb: JS_BUDGET_KB, ok: size.gzip_kb <= JS_BUDGET_KB },
    render: { budget_ms: RENDER_BUDGET_MS, rounds: ROUNDS, screens: rows, ok: rows.every((r) => r.max_ms < RENDER_BUDGET_MS) },
  };
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  console.log(`\n### Web app\n`);
  console.log(`| measure | value | budget | verdict |\n|---|---|---|---|`);
  console.log(
    `| first-load JavaScript (gzip -9) | ${size.gzip_kb.toFixed(1)} KB (${size.raw_kb.toFixed(1)} KB raw) | ${JS_BUDGET_KB} KB | ${results.js_first_load.ok ? 'ok' : 'OVER'} |`,
  );
  for (const r of rows)
    console.log(
      `| render: ${r.screen} | median ${r.median_ms.toFixed(0)} ms, max ${r.max_ms.toFixed(0)} ms | ${RENDER_BUDGET_MS} ms | ${r.max_ms < RENDER_BUDGET_MS ? 'ok' : 'OVER'} |`,
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
