// The API client. The access token lives only in this module's memory; the refresh token lives
// in an HttpOnly cookie that no script can read (the API's web session mode, README "Web
// session mode"), so a reload or a new tab starts with a cookie refresh. An access token the
// API refuses (401) gets one refresh and one retry; when that fails too (session revoked,
// e.g. a remote wipe, or idle for 72 h) the app is signed out.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public retryAfter: number | null = null,
    public details: { failed?: string[]; field?: string } | null = null,
  ) {
    super(message);
  }
}

export interface TokenAnswer {
  access_token: string;
  token_type: string;
  expires_in: number;
  password_change_required: boolean;
  mfa_enrollment_required?: boolean;
}

export interface MfaChallenge {
  mfa_required: true;
  mfa_token: string;
}

type SignedOutReason = 'expired' | 'logout';

let base = '';
let access: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let signedOut: (reason: SignedOutReason) => void = () => {};
let gated: (code: string) => void = () => {};

/** The API's base URL (empty: the same origin), from /config.json. */
export function configure(apiUrl: string): void {
  base = apiUrl.replace(/\/+$/, '');
}

/** The API's origin as people outside this app reach it (the IdP's administrators, say). */
export function apiOrigin(): string {
  return base || location.origin;
}

/** Where the API is, for URLs the browser navigates to itself (empty: this origin). */
export function apiBase(): string {
  return base;
}

export function onSignedOut(handler: (reason: SignedOutReason) => void): void {
  signedOut = handler;
}

/**
 * Called when the API answers 403 `password_change_required` or `mfa_enrollment_required`:
 * an administrator forced a password change, or the tenant now requires MFA, while this
 * session was open; the app shows the gate's screen at once.
 */
export function onGate(handler: (code: string) => void): void {
  gated = handler;
}

const GATES = ['password_change_required', 'mfa_enrollment_required'];

export function hasSession(): boolean {
  return access !== null;
}

/** Headers of the web session mode; the custom header is also the cookie routes' CSRF guard. */
const WEB = { 'X-Bulwark-Session': 'web' };

async function errorOf(resp: Response): Promise<ApiError> {
  let code = 'internal';
  let message = `The server answered ${resp.status}.`;
  let details = null;
  try {
    const body = await resp.json();
    code = body?.error?.code ?? code;
    message = body?.error?.message ?? message;
    details = body?.error?.details ?? null;
  } catch {
    // Not JSON (a proxy's error page): keep the generic message.
  }
  const retry = resp.headers.get('Retry-After');
  return new ApiError(resp.status, code, message, retry === null ? null : Number(retry), details);
}

function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const h: Record<string, string> = { Accept: 'application/json', ...headers };
  if (access) h.Authorization = `Bearer ${access}`;
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  return fetch(base + path, {
    method,
    headers: h,
    body: payload,
    credentials: base ? 'include' : 'same-origin',
    cache: 'no-store',
  });
}

function adopt(answer: TokenAnswer): TokenAnswer {
  access = answer.access_token;
  clearTimeout(refreshTimer);
  // Renew a minute before the access token expires, so an open screen keeps working.
  const ms = Math.max(30, answer.expires_in - 60) * 1000;
  refreshTimer = setTimeout(() => void refresh(), ms);
  return answer;
}

function forget(): void {
  access = null;
  clearTimeout(refreshTimer);
}

let inflight: Promise<boolean> | null = null;

/**
 * Renews the access token with the cookie. Tabs take turns (Web Locks), because a refresh
 * token is single use and presenting a spent one revokes the whole session.
 */
export function refresh(): Promise<boolean> {
  if (inflight) return inflight;
  const run = async () => {
    const resp = await send('POST', '/v1/auth/refresh', {}, WEB);
    if (!resp.ok) {
      forget();
      return false;
    }
    adopt(await resp.json());
    return true;
  };
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  const p: Promise<boolean> = (locks ? (locks.request('bulwark-refresh', run) as unknown as Promise<boolean>) : run()).finally(
    () => {
      inflight = null;
    },
  );
  inflight = p;
  return p;
}

/** A JSON call. A refused access token gets one refresh and one retry, then signs out. */
export async function call<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  opts: { probe?: boolean } = {},
): Promise<T> {
  const hadSession = access !== null;
  let resp = await send(method, path, body);
  if (resp.status === 401 && hadSession) {
    if (await refresh()) {
      resp = await send(method, path, body);
    }
    if (resp.status === 401) {
      forget();
      signedOut('expired');
    }
  }
  if (!resp.ok) {
    const err = await errorOf(resp);
    // A probe (the session's own gate check) reads the gate from the answer itself.
    if (err.status === 403 && GATES.includes(err.code) && !opts.probe) gated(err.code);
    throw err;
  }
  if (resp.status === 204) return undefined as T;
  const text = await resp.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Public routes that start a session: tokens in memory, the refresh token in the cookie. */
async function signInCall(path: string, body: unknown): Promise<TokenAnswer | MfaChallenge> {
  const resp = await send('POST', path, body, WEB);
  if (!resp.ok) throw await errorOf(resp);
  const answer = await resp.json();
  if (answer.mfa_required) return answer as MfaChallenge;
  return adopt(answer as TokenAnswer);
}

export const login = (tenant: string, email: string, password: string) =>
  signInCall('/v1/auth/login', { tenant, email, password });

export const completeMfa = (mfaToken: string, code: string) =>
  signInCall('/v1/auth/mfa', { mfa_token: mfaToken, code }) as Promise<TokenAnswer>;

export const recoverConfirm = (token: string, password: string) =>
  signInCall('/v1/auth/mfa/recover/confirm', { token, password }) as Promise<TokenAnswer>;

/** A single sign-on's login code for the session (refresh token in the cookie, as a login). */
export const exchangeLoginCode = (loginCode: string, codeVerifier: string | null) =>
  signInCall(
    '/v1/auth/sso/exchange',
    codeVerifier ? { login_code: loginCode, code_verifier: codeVerifier } : { login_code: loginCode },
  ) as Promise<TokenAnswer>;

/**
 * The single sign-on methods a tenant has configured. Unknown tenants and servers without the
 * route (404) have none; any other failure also hides the buttons rather than the password form.
 */
export async function ssoMethods(tenant: string): Promise<unknown> {
  try {
    const resp = await send('GET', `/v1/sso/${encodeURIComponent(tenant)}/methods`);
    return resp.ok ? await resp.json() : { methods: [] };
  } catch {
    return { methods: [] };
  }
}

/** Ends the session on the server (which also clears the cookie), whatever happens here. */
export async function logout(): Promise<void> {
  try {
    if (access) await send('POST', '/v1/auth/logout', undefined, WEB);
  } finally {
    forget();
    signedOut('logout');
  }
}

/** The file name of a `Content-Disposition: attachment; filename*=UTF-8''...` header. */
export function dispositionName(header: string | null): string | null {
  const m = header?.match(/filename\*=UTF-8''([^;]+)/i);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

/** An attachment's bytes, as a Blob (the bearer token cannot ride on a plain link). */
export async function download(path: string): Promise<{ blob: Blob; filename: string | null }> {
  let resp = await send('GET', path);
  if (resp.status === 401 && (await refresh())) resp = await send('GET', path);
  if (!resp.ok) throw await errorOf(resp);
  return { blob: await resp.blob(), filename: dispositionName(resp.headers.get('Content-Disposition')) };
}

/**
 * Uploads a file with XMLHttpRequest, the one browser API that reports upload progress.
 * `onProgress` gets 0..1.
 */
export function upload(
  file: Blob,
  name: string,
  onProgress: (fraction: number) => void,
): Promise<{ attachment_id: string; size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', base + '/v1/attachments');
    xhr.withCredentials = Boolean(base);
    if (access) xhr.setRequestHeader('Authorization', `Bearer ${access}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    // Header values must be printable ASCII here; other characters become "_".
    xhr.setRequestHeader('X-Filename', name.replace(/[^\x20-\x7e]/g, '_').slice(0, 255) || 'file');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload failed: no connection to the server.'));
    xhr.onload = () => {
      let body: any = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 201) {
        onProgress(1);
        resolve(body);
      } else {
        if (xhr.status === 401) {
          forget();
          signedOut('expired');
        }
        const retry = xhr.getResponseHeader('Retry-After');
        reject(
          new ApiError(
            xhr.status,
            body?.error?.code ?? 'internal',
            body?.error?.message ?? `The upload failed (${xhr.status}).`,
            retry === null ? null : Number(retry),
          ),
        );
      }
    };
    xhr.send(file);
  });
}
