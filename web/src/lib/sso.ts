// Single sign-on in the browser (API.md "Single sign-on"), the parts without a screen: the
// sign-in start URL with the app's own PKCE pair (the login code that comes back in the URL is
// useless without this tab's verifier), the callback's query read once and taken out of the
// address bar, the login code exchanged once however often a screen renders, the sentences for
// the errors, and the admin forms' request bodies.

export type SsoMethod = 'oidc' | 'saml';
export const SSO_METHODS: SsoMethod[] = ['oidc', 'saml'];

/** The path the IdP's answer comes back to (through Bulwark): served as a screen of the app. */
export const CALLBACK_PATH = '/sso/callback';

/** The known methods among what `/methods` answered, in a stable order. */
export function knownMethods(answer: unknown): SsoMethod[] {
  const list = (answer as { methods?: unknown } | null)?.methods;
  if (!Array.isArray(list)) return [];
  return SSO_METHODS.filter((m) => list.includes(m));
}

/** A tenant slug as the platform allows it (API.md: `^[a-z0-9][a-z0-9-]{2,39}$`). */
export const isSlug = (s: string) => /^[a-z0-9][a-z0-9-]{2,39}$/.test(s);

// ---- PKCE (RFC 7636) for the login code -----------------------------------------------------

const VERIFIER_KEY = 'bulwark.sso';

function base64url(bytes: Uint8Array): string {
  let s = '';
  bytes.forEach((b) => (s += String.fromCharCode(b)));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** 32 random bytes as 43 base64url characters. */
export function newVerifier(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/**
 * The URL that starts a sign-in at the IdP. With a challenge, the exchange will need the
 * verifier, which stays in this tab (sessionStorage) until the callback takes it.
 */
export function startUrl(apiBase: string, tenant: string, method: SsoMethod, redirectUri: string, challenge?: string): string {
  const q = new URLSearchParams({ redirect_uri: redirectUri });
  if (challenge) {
    q.set('code_challenge', challenge);
    q.set('code_challenge_method', 'S256');
  }
  return `${apiBase}/v1/sso/${encodeURIComponent(tenant)}/${method}/start?${q}`;
}

/** Keeps the verifier for this tab's callback (nothing kept where storage is unavailable). */
export function keepVerifier(verifier: string): boolean {
  try {
    sessionStorage.setItem(VERIFIER_KEY, verifier);
    return true;
  } catch {
    return false;
  }
}

/** The kept verifier, removed from storage: it serves one exchange. */
export function takeVerifier(): string | null {
  try {
    const v = sessionStorage.getItem(VERIFIER_KEY);
    sessionStorage.removeItem(VERIFIER_KEY);
    return v;
  } catch {
    return null;
  }
}

// ---- The callback ----------------------------------------------------------------------------

export type Callback = { kind: 'code'; code: string } | { kind: 'error'; error: string } | { kind: 'none' };

/** The parameters the callback consumes; everything else of the query stays. */
const CALLBACK_PARAMS = ['login_code', 'error', 'error_description', 'state'];

/** What the callback URL's query says, and the query without it. */
export function parseCallback(search: string): { result: Callback; rest: string } {
  const q = new URLSearchParams(search);
  const code = q.get('login_code') ?? '';
  const error = q.get('error') ?? '';
  CALLBACK_PARAMS.forEach((p) => q.delete(p));
  const rest = q.toString();
  let result: Callback = { kind: 'none' };
  if (error) result = { kind: 'error', error };
  else if (code) result = { kind: 'code', code };
  return { result, rest: rest ? `?${rest}` : '' };
}

let captured: Callback | null = null;

/**
 * Reads the callback's query once and takes it out of the address bar (and so out of the
 * history) at once. Later calls return what the first one read, so a re-render or a second
 * mount sees the same code; `reset` is for tests.
 */
export function takeCallback(loc: { pathname: string; search: string } = location, replace = (url: string) => history.replaceState(null, '', url)): Callback {
  if (captured) return captured;
  if (loc.pathname !== CALLBACK_PATH) return { kind: 'none' };
  const { result, rest } = parseCallback(loc.search);
  if (result.kind !== 'none' || loc.search !== rest) replace(loc.pathname + rest);
  captured = result;
  return result;
}

const exchanges = new Map<string, Promise<unknown>>();

/**
 * Runs `exchange` for `code` at most once in this page's life: a login code is single use, and
 * a second submission would spend it and fail. Every caller gets the first call's promise.
 */
export function exchangeOnce<T>(code: string, exchange: (code: string) => Promise<T>): Promise<T> {
  let p = exchanges.get(code);
  if (!p) {
    p = exchange(code);
    exchanges.set(code, p);
  }
  return p as Promise<T>;
}

export function resetForTests(): void {
  captured = null;
  exchanges.clear();
}

/** A sentence for an `error=` from the callback, or for the exchange's refusal. */
export function callbackErrorText(code: string): string {
  switch (code) {
    case 'access_denied':
      return 'Single sign-on did not let you in: your identity provider refused, or your organisation has no active Bulwark account for you. Ask your administrator for access.';
    case 'invalid_token':
      return "Your identity provider's answer could not be verified, so you are not signed in. Try again; if it happens again, tell your administrator.";
    case 'expired':
    case 'invalid_credentials':
      return 'This sign-in expired or was already used. Start again from the sign-in page.';
    case 'idp_error':
      return 'Your identity provider did not complete the sign-in. Try again in a moment.';
    case 'not_configured':
      return 'Single sign-on is not set up for your organisation. Sign in with your password, or ask your administrator.';
    case 'server_error':
      return 'Something went wrong on our side while signing you in. Try again in a moment.';
    case 'missing':
      return 'This sign-in page was opened without an answer from your identity provider. Start again from the sign-in page.';
    case 'not_started_here':
      return 'This sign-in was not started from this browser tab, so it is not used: someone may be trying to sign you in to their account. Start again from the sign-in page.';
    default:
      return 'Single sign-on did not complete, so you are not signed in. Start again from the sign-in page.';
  }
}

/** Shows an error code only when it looks like one (the query is anyone's to write). */
export const displayableCode = (code: string) => (/^[a-z][a-z0-9_]{0,39}$/.test(code) ? code : null);

// ---- Admin forms → request bodies ------------------------------------------------------------

export type JitRole = 'member' | 'auditor' | 'organizer';

export interface JitForm {
  enabled: boolean;
  role: JitRole;
}

export interface OidcForm {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
  emailClaim: string;
  redirectUris: string;
  jit: JitForm;
}

export interface SamlForm {
  source: 'metadata' | 'manual';
  metadataXml: string;
  entityId: string;
  ssoUrl: string;
  certificates: string;
  emailAttribute: string;
  redirectUris: string;
  jit: JitForm;
}

/** One entry per non-empty line. */
export const lines = (text: string) =>
  text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

/** Scope tokens separated by spaces, commas or lines. */
export const scopeList = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** The PEM certificates in a text (each BEGIN…END block); a bare base64 body becomes one. */
export function pemBlocks(text: string): string[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (blocks) return blocks.map((b) => b.trim());
  const bare = text.replace(/\s+/g, '');
  return bare ? [`-----BEGIN CERTIFICATE-----\n${bare.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----`] : [];
}

const jitBody = (j: JitForm) => ({ enabled: j.enabled, role: j.role });

export function oidcBody(f: OidcForm): Record<string, unknown> {
  const body: Record<string, unknown> = {
    issuer: f.issuer.trim(),
    client_id: f.clientId.trim(),
    client_secret: f.clientSecret,
    redirect_uris: lines(f.redirectUris),
    jit: jitBody(f.jit),
  };
  const scopes = scopeList(f.scopes);
  if (scopes.length) body.scopes = scopes;
  if (f.emailClaim.trim()) body.email_claim = f.emailClaim.trim();
  return body;
}

export function samlBody(f: SamlForm): Record<string, unknown> {
  const body: Record<string, unknown> =
    f.source === 'metadata'
      ? { idp_metadata_xml: f.metadataXml.trim() }
      : { idp_entity_id: f.entityId.trim(), sso_url: f.ssoUrl.trim(), signing_certificates: pemBlocks(f.certificates) };
  if (f.emailAttribute.trim()) body.email_attribute = f.emailAttribute.trim();
  body.redirect_uris = lines(f.redirectUris);
  body.jit = jitBody(f.jit);
  return body;
}

export type FieldErrors = Record<string, string>;

/** What must be filled in before a request is worth sending. */
export function oidcErrors(f: OidcForm, secretSet: boolean): FieldErrors {
  const e: FieldErrors = {};
  if (!/^https?:\/\/\S+$/.test(f.issuer.trim())) e.issuer = 'Enter the issuer URL, like https://login.example.com.';
  if (!f.clientId.trim()) e.client_id = 'Enter the client ID the identity provider gave you.';
  if (!f.clientSecret)
    e.client_secret = secretSet
      ? 'Enter the client secret again (or a new one): every change needs it.'
      : 'Enter the client secret the identity provider gave you.';
  if (f.scopes.trim() && !scopeList(f.scopes).includes('openid')) e.scopes = 'The scopes must include openid.';
  if (!lines(f.redirectUris).length) e.redirect_uris = 'Enter at least one address, one a line.';
  return e;
}

export function samlErrors(f: SamlForm): FieldErrors {
  const e: FieldErrors = {};
  if (f.source === 'metadata') {
    if (!f.metadataXml.trim().startsWith('<')) e.idp_metadata_xml = "Paste the identity provider's metadata XML.";
  } else {
    if (!f.entityId.trim()) e.idp_entity_id = "Enter the identity provider's entity ID.";
    if (!/^https?:\/\/\S+$/.test(f.ssoUrl.trim())) e.sso_url = 'Enter the single sign-on URL, like https://idp.example.com/sso.';
    if (!pemBlocks(f.certificates).length) e.signing_certificates = 'Paste at least one signing certificate (PEM).';
  }
  if (!lines(f.redirectUris).length) e.redirect_uris = 'Enter at least one address, one a line.';
  return e;
}

/**
 * Which field a server's 422 `validation_failed` is about: `details.field` when the server names
 * it, else the field its message starts with or mentions (Bulwark's messages lead with the
 * field's name: "issuer: …", "client_id must …"), else null (shown above the form).
 */
export function fieldOfError(message: string, details: unknown, fields: string[]): string | null {
  const named = (details as { field?: unknown } | null)?.field;
  if (typeof named === 'string' && fields.includes(named)) return named;
  const lead = message.match(/^([a-z_.]+)/)?.[1];
  if (lead) {
    const f = lead === 'jit.role' || lead === 'jit' ? 'jit' : lead;
    if (fields.includes(f)) return f;
  }
  const lower = message.toLowerCase();
  for (const f of fields) if (lower.includes(f)) return f;
  // Discovery of an OIDC issuer, or a SAML metadata document or certificate, failing.
  if (fields.includes('issuer') && /discovery|jwks|issuer|idp /.test(lower)) return 'issuer';
  if (fields.includes('idp_metadata_xml') && /metadata/.test(lower)) return 'idp_metadata_xml';
  if (fields.includes('signing_certificates') && /certificate/.test(lower)) return 'signing_certificates';
  return null;
}
