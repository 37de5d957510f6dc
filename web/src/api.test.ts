import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import * as api from './api';

type Call = { url: string; init: RequestInit };

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

describe('the API client', () => {
  let calls: Call[];
  let answers: Response[];
  beforeEach(() => {
    calls = [];
    answers = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return answers.shift() ?? json(500, {});
    });
  });
  afterEach(() => vi.unstubAllGlobals());

  const headers = (c: Call) => c.init.headers as Record<string, string>;
  const tokens = (access: string) => json(200, { access_token: access, token_type: 'Bearer', expires_in: 900, password_change_required: false });

  it('signs in in the web session mode and keeps the access token in memory only', async () => {
    answers.push(tokens('a1'), json(200, { user_id: 'u' }));
    const answer = await api.login('acme', 'a@acme.test', 'pw');
    expect('access_token' in answer && answer.access_token).toBe('a1');
    expect(headers(calls[0])['X-Bulwark-Session']).toBe('web');
    await api.call('GET', '/v1/me');
    expect(headers(calls[1]).Authorization).toBe('Bearer a1');
  });

  it('refreshes once on a 401 and retries with the new token', async () => {
    answers.push(tokens('a1'));
    await api.login('acme', 'a@acme.test', 'pw');
    answers.push(json(401, { error: { code: 'unauthorized', message: 'x' } }), tokens('a2'), json(200, { ok: true }));
    expect(await api.call('GET', '/v1/conversations')).toEqual({ ok: true });
    expect(calls[2].url).toBe('/v1/auth/refresh');
    expect(headers(calls[2])['X-Bulwark-Session']).toBe('web');
    expect(headers(calls[3]).Authorization).toBe('Bearer a2');
  });

  it('signs out when the session is revoked (remote wipe)', async () => {
    const signedOut = vi.fn();
    api.onSignedOut(signedOut);
    answers.push(tokens('a1'));
    await api.login('acme', 'a@acme.test', 'pw');
    answers.push(
      json(401, { error: { code: 'unauthorized', message: 'x' } }),
      json(401, { error: { code: 'session_expired', message: 'x' } }),
    );
    await expect(api.call('GET', '/v1/conversations')).rejects.toMatchObject({ status: 401 });
    expect(signedOut).toHaveBeenCalledWith('expired');
    expect(api.hasSession()).toBe(false);
  });

  it('reads the error code, the Retry-After of a lockout and the failed password rules', async () => {
    answers.push(json(423, { error: { code: 'account_locked', message: 'locked' } }, { 'Retry-After': '840' }));
    await expect(api.login('acme', 'a@acme.test', 'pw')).rejects.toMatchObject({ code: 'account_locked', retryAfter: 840 });
    answers.push(json(422, { error: { code: 'password_policy', message: 'p', details: { failed: ['min_length'] } } }));
    await expect(api.call('POST', '/v1/invitations/accept', {})).rejects.toMatchObject({ details: { failed: ['min_length'] } });
  });

  it('reports a gate that closes while the session is open', async () => {
    const gate = vi.fn();
    api.onGate(gate);
    answers.push(tokens('a1'));
    await api.login('acme', 'a@acme.test', 'pw');
    answers.push(json(403, { error: { code: 'password_change_required', message: 'x' } }));
    await expect(api.call('GET', '/v1/conversations')).rejects.toMatchObject({ code: 'password_change_required' });
    expect(gate).toHaveBeenCalledWith('password_change_required');
    answers.push(json(403, { error: { code: 'forbidden', message: 'x' } }));
    await expect(api.call('GET', '/v1/admin/users')).rejects.toMatchObject({ code: 'forbidden' });
    expect(gate).toHaveBeenCalledTimes(1);
  });

  it('names a download from its Content-Disposition', () => {
    expect(api.dispositionName("attachment; filename*=UTF-8''scan%201.pdf")).toBe('scan 1.pdf');
    expect(api.dispositionName('attachment')).toBeNull();
  });
});
