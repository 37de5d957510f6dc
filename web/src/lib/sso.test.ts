import { beforeEach, describe, expect, it } from 'vitest';

import {
  challengeOf,
  displayableCode,
  exchangeOnce,
  fieldOfError,
  knownMethods,
  newVerifier,
  oidcBody,
  oidcErrors,
  parseCallback,
  pemBlocks,
  resetForTests,
  samlBody,
  samlErrors,
  startUrl,
  takeCallback,
  type OidcForm,
  type SamlForm,
} from './sso';

beforeEach(resetForTests);

describe('the callback', () => {
  it('reads a login code and takes it out of the query, keeping the rest', () => {
    expect(parseCallback('?login_code=abc.DEF-1&lang=en')).toEqual({ result: { kind: 'code', code: 'abc.DEF-1' }, rest: '?lang=en' });
    expect(parseCallback('?login_code=abc')).toEqual({ result: { kind: 'code', code: 'abc' }, rest: '' });
  });

  it('reads an error, which wins over a code', () => {
    expect(parseCallback('?error=access_denied').result).toEqual({ kind: 'error', error: 'access_denied' });
    expect(parseCallback('?login_code=x&error=invalid_token').result).toEqual({ kind: 'error', error: 'invalid_token' });
    expect(parseCallback('').result).toEqual({ kind: 'none' });
  });

  it('replaces the address at once, and a second read (a re-render) sees the same code', () => {
    const replaced: string[] = [];
    const loc = { pathname: '/sso/callback', search: '?login_code=c1' };
    const first = takeCallback(loc, (u) => replaced.push(u));
    expect(first).toEqual({ kind: 'code', code: 'c1' });
    expect(replaced).toEqual(['/sso/callback']);
    // The address bar no longer has it; the module remembers it.
    const second = takeCallback({ pathname: '/sso/callback', search: '' }, (u) => replaced.push(u));
    expect(second).toEqual(first);
    expect(replaced).toHaveLength(1);
  });

  it('ignores other paths', () => {
    const replaced: string[] = [];
    expect(takeCallback({ pathname: '/invite', search: '?login_code=x' }, (u) => replaced.push(u))).toEqual({ kind: 'none' });
    expect(replaced).toEqual([]);
  });

  it('exchanges a code once, however many times it is asked', async () => {
    let calls = 0;
    const exchange = async (code: string) => {
      calls++;
      return `tokens for ${code}`;
    };
    const [a, b] = await Promise.all([exchangeOnce('c1', exchange), exchangeOnce('c1', exchange)]);
    expect(await exchangeOnce('c1', exchange)).toBe('tokens for c1');
    expect([a, b, calls]).toEqual(['tokens for c1', 'tokens for c1', 1]);
    await exchangeOnce('c2', exchange);
    expect(calls).toBe(2);
  });

  it('a failed exchange is not retried with the spent code', async () => {
    let calls = 0;
    const failing = async () => {
      calls++;
      throw new Error('invalid_credentials');
    };
    await expect(exchangeOnce('c3', failing)).rejects.toThrow('invalid_credentials');
    await expect(exchangeOnce('c3', failing)).rejects.toThrow('invalid_credentials');
    expect(calls).toBe(1);
  });

  it('shows only error codes that look like codes', () => {
    expect(displayableCode('access_denied')).toBe('access_denied');
    expect(displayableCode('<script>')).toBeNull();
    expect(displayableCode('Call 555 now')).toBeNull();
  });
});

describe('starting a sign-in', () => {
  it('keeps only the known methods of /methods', () => {
    expect(knownMethods({ methods: ['saml', 'oidc', 'ldap'] })).toEqual(['oidc', 'saml']);
    expect(knownMethods({ methods: [] })).toEqual([]);
    expect(knownMethods(null)).toEqual([]);
    expect(knownMethods({ error: { code: 'not_found' } })).toEqual([]);
  });

  it('builds the start URL with the redirect URI and the S256 challenge', () => {
    const url = new URL(startUrl('https://api.example', 'acme', 'oidc', 'https://app.example/sso/callback', 'C'.repeat(43)));
    expect(url.pathname).toBe('/v1/sso/acme/oidc/start');
    expect(url.searchParams.get('redirect_uri')).toBe('https://app.example/sso/callback');
    expect(url.searchParams.get('code_challenge')).toBe('C'.repeat(43));
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(startUrl('', 'acme', 'saml', 'http://x/cb')).toBe('/v1/sso/acme/saml/start?redirect_uri=http%3A%2F%2Fx%2Fcb');
  });

  it('makes an RFC 7636 verifier and challenge', async () => {
    const v = newVerifier();
    expect(v).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newVerifier()).not.toBe(v);
    // RFC 7636 appendix B.
    expect(await challengeOf('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });
});

const oidcForm: OidcForm = {
  issuer: ' https://login.example.com ',
  clientId: ' bulwark ',
  clientSecret: 's3cret',
  scopes: 'openid, email  profile',
  emailClaim: ' email ',
  redirectUris: 'https://app.example/sso/callback\n\n  com.example.app:/sso  \n',
  jit: { enabled: true, role: 'member' },
};

describe('the admin forms', () => {
  it('maps the OIDC form to the request body', () => {
    expect(oidcBody(oidcForm)).toEqual({
      issuer: 'https://login.example.com',
      client_id: 'bulwark',
      client_secret: 's3cret',
      scopes: ['openid', 'email', 'profile'],
      email_claim: 'email',
      redirect_uris: ['https://app.example/sso/callback', 'com.example.app:/sso'],
      jit: { enabled: true, role: 'member' },
    });
    // Empty optional fields are left to the server's defaults.
    const body = oidcBody({ ...oidcForm, scopes: ' ', emailClaim: '' });
    expect('scopes' in body || 'email_claim' in body).toBe(false);
  });

  it('checks the OIDC form before sending it', () => {
    expect(oidcErrors(oidcForm, false)).toEqual({});
    const e = oidcErrors({ ...oidcForm, issuer: 'login', clientSecret: '', scopes: 'email', redirectUris: ' ' }, true);
    expect(Object.keys(e).sort()).toEqual(['client_secret', 'issuer', 'redirect_uris', 'scopes']);
    expect(e.client_secret).toMatch(/again/);
  });

  const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`;
  const samlForm: SamlForm = {
    source: 'manual',
    metadataXml: '',
    entityId: ' https://idp.example/entity ',
    ssoUrl: 'https://idp.example/sso',
    certificates: `${pem('AAAA')}\n\n${pem('BBBB')}\n`,
    emailAttribute: '',
    redirectUris: 'https://app.example/sso/callback',
    jit: { enabled: false, role: 'auditor' },
  };

  it('maps the SAML form, entered by hand, to the request body', () => {
    expect(samlBody(samlForm)).toEqual({
      idp_entity_id: 'https://idp.example/entity',
      sso_url: 'https://idp.example/sso',
      signing_certificates: [pem('AAAA'), pem('BBBB')],
      redirect_uris: ['https://app.example/sso/callback'],
      jit: { enabled: false, role: 'auditor' },
    });
    expect(samlErrors(samlForm)).toEqual({});
  });

  it('maps the SAML form, from metadata, to the request body', () => {
    const f: SamlForm = { ...samlForm, source: 'metadata', metadataXml: ' <EntityDescriptor/> ', emailAttribute: 'mail' };
    expect(samlBody(f)).toEqual({
      idp_metadata_xml: '<EntityDescriptor/>',
      email_attribute: 'mail',
      redirect_uris: ['https://app.example/sso/callback'],
      jit: { enabled: false, role: 'auditor' },
    });
    expect(Object.keys(samlErrors({ ...f, metadataXml: 'nope' }))).toEqual(['idp_metadata_xml']);
  });

  it('wraps a bare base64 certificate as PEM', () => {
    expect(pemBlocks(' MIIB\nAAAA ')).toEqual([pem('MIIBAAAA')]);
    expect(pemBlocks('  ')).toEqual([]);
  });

  it("places the server's validation errors next to their field", () => {
    const f = ['issuer', 'client_id', 'client_secret', 'scopes', 'email_claim', 'redirect_uris', 'jit'];
    expect(fieldOfError('issuer: must be https', null, f)).toBe('issuer');
    expect(fieldOfError('client_id must be 1..=255 printable characters', null, f)).toBe('client_id');
    expect(fieldOfError('jit.role must not be admin', null, f)).toBe('jit');
    expect(fieldOfError("the issuer's discovery document: unreachable: refused", null, f)).toBe('issuer');
    expect(fieldOfError('the IdP does not support PKCE with S256', null, f)).toBe('issuer');
    expect(fieldOfError('anything', { field: 'scopes' }, f)).toBe('scopes');
    expect(fieldOfError('something else entirely', null, f)).toBeNull();
    const s = ['idp_metadata_xml', 'idp_entity_id', 'sso_url', 'signing_certificates', 'email_attribute', 'redirect_uris', 'jit'];
    expect(fieldOfError('the metadata has no IDPSSODescriptor', null, s)).toBe('idp_metadata_xml');
    expect(fieldOfError('a signing certificate is not valid PEM', null, s)).toBe('signing_certificates');
  });
});
