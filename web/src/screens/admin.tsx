// Tenant administration: users (invite, role, disable, unlock, forced password change, MFA
// reset, device-key reset — the remote wipe — each consequential action behind a confirm
// step), the tenant policy editor with validation, and the audit log with paging and filters.
import { useEffect, useMemo, useState } from 'preact/hooks';

import * as api from '../api';
import { dateTime } from '../lib/format';
import type { Me, Policy } from '../session';
import {
  type FieldErrors,
  type JitForm,
  type JitRole,
  type OidcForm,
  type SamlForm,
  CALLBACK_PATH,
  fieldOfError,
  oidcBody,
  oidcErrors,
  samlBody,
  samlErrors,
} from '../lib/sso';
import { Alert, ConfirmButton, CopyValue, ErrorAlert, Field, Link, Screen, Select, TextArea, errorText, useSubmit } from '../ui';

interface User {
  user_id: string;
  email: string;
  display_name: string;
  role: string;
  disabled: boolean;
  locked: boolean;
  mfa_enabled: boolean;
}

export const ROLES: [string, string][] = [
  ['member', 'Member'],
  ['organizer', 'Organizer'],
  ['auditor', 'Auditor'],
  ['admin', 'Administrator'],
];

function Invite(props: { onInvited: () => void }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('member');
  const [sent, setSent] = useState<string | null>(null);
  const form = useSubmit(async () => {
    await api.call('POST', '/v1/admin/invitations', { email: email.trim(), role });
    setSent(email.trim());
    setEmail('');
    props.onInvited();
  });
  return (
    <form class="panel" onSubmit={form.submit} novalidate aria-labelledby="invite-h">
      <h2 id="invite-h">Invite someone</h2>
      {sent && <Alert kind="success">Invitation sent to {sent}. The link works once, for 72 hours.</Alert>}
      <ErrorAlert error={form.error} />
      <div class="row">
        <Field label="Email" type="email" value={email} onValue={setEmail} autoComplete="off" required />
        <Select label="Role" value={role} onValue={setRole} options={ROLES} />
      </div>
      <div class="actions">
        <button type="submit" disabled={form.busy || !email.includes('@')}>
          Send invitation
        </button>
      </div>
    </form>
  );
}

function UserRow(props: { user: User; me: Me; onChanged: (message: string) => void; onError: (e: unknown) => void }) {
  const { user: u, me } = props;
  const self = u.user_id === me.user_id;
  const act = (label: string, fn: () => Promise<unknown>) => async () => {
    try {
      await fn();
      props.onChanged(label);
    } catch (e) {
      props.onError(e);
    }
  };
  const base = `/v1/admin/users/${u.user_id}`;
  return (
    <li class="user">
      <div class="user-head">
        <strong>{u.display_name}</strong> <span class="hint">{u.email}</span>
        <span class="tags">
          {u.disabled && <span class="tag">Disabled</span>}
          {u.locked && <span class="tag warn">Locked</span>}
          {u.mfa_enabled && <span class="tag ok">2-step on</span>}
          {self && <span class="tag">You</span>}
        </span>
      </div>
      <div class="user-actions">
        <div class="field inline">
          <label for={`role-${u.user_id}`}>Role of {u.display_name}</label>
          <select
            id={`role-${u.user_id}`}
            value={u.role}
            disabled={self}
            onChange={(e) => {
              const role = (e.currentTarget as HTMLSelectElement).value;
              void act(`Role of ${u.display_name} changed to ${role}.`, () => api.call('PATCH', base, { role }))();
            }}
          >
            {ROLES.map(([v, l]) => (
              <option value={v} key={v}>
                {l}
              </option>
            ))}
          </select>
        </div>
        {!self && (
          <>
            <ConfirmButton
              label={u.disabled ? 'Enable' : 'Disable'}
              question={u.disabled ? `Enable ${u.display_name}?` : `Disable ${u.display_name} and end their sessions?`}
              danger={!u.disabled}
              onConfirm={act(`${u.display_name} ${u.disabled ? 'enabled' : 'disabled'}.`, () =>
                api.call('PATCH', base, { disabled: !u.disabled }),
              )}
            />
            {u.locked && (
              <button type="button" class="secondary" onClick={act(`${u.display_name} unlocked.`, () => api.call('POST', `${base}/unlock`))}>
                Unlock
              </button>
            )}
            <ConfirmButton
              label="Require password change"
              question={`Make ${u.display_name} change their password at next use?`}
              onConfirm={act(`${u.display_name} must change their password.`, () =>
                api.call('POST', `${base}/require-password-change`),
              )}
            />
            {u.mfa_enabled && (
              <ConfirmButton
                label="Reset two-step verification"
                question={`Remove ${u.display_name}'s authenticator, recovery codes and security answers, and sign them out?`}
                danger
                onConfirm={act(`Two-step verification of ${u.display_name} reset.`, () => api.call('POST', `${base}/mfa/reset`))}
              />
            )}
            <ConfirmButton
              label="Wipe device key"
              question={`Reset ${u.display_name}'s device key? Their apps lose their local data and every session ends.`}
              confirmLabel="Wipe"
              danger
              onConfirm={act(`Device key of ${u.display_name} reset; their sessions are signed out.`, () =>
                api.call('POST', `${base}/device-key/reset`),
              )}
            />
          </>
        )}
      </div>
    </li>
  );
}

export function Users(props: { me: Me }) {
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const load = async () => {
    try {
      setUsers((await api.call<{ users: User[] }>('GET', '/v1/admin/users')).users);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => void load(), []);
  const shown = (users ?? []).filter((u) =>
    `${u.display_name} ${u.email} ${u.role}`.toLowerCase().includes(filter.trim().toLowerCase()),
  );
  return (
    <Screen title="Users">
      <Invite onInvited={load} />
      {notice && <Alert kind="success">{notice}</Alert>}
      <ErrorAlert error={error} />
      <Field label="Find a user" type="search" value={filter} onValue={setFilter} autoComplete="off" />
      {users === null ? (
        <p role="status">Loading…</p>
      ) : (
        <ul class="list users" aria-label="Users">
          {shown.map((u) => (
            <UserRow
              key={u.user_id}
              user={u}
              me={props.me}
              onChanged={(m) => {
                setError(null);
                setNotice(m);
                void load();
              }}
              onError={(e) => {
                setNotice(null);
                setError(e);
              }}
            />
          ))}
        </ul>
      )}
    </Screen>
  );
}

/** Validation of the policy form, before the server's own (API.md: timeout 1..15 minutes). */
export function policyErrors(timeout: string, retention: string): { timeout?: string; retention?: string } {
  const out: { timeout?: string; retention?: string } = {};
  const t = Number(timeout);
  if (!/^\d+$/.test(timeout.trim()) || t < 1 || t > 15) out.timeout = 'Enter a whole number of minutes from 1 to 15.';
  if (retention.trim() !== '') {
    const r = Number(retention);
    if (!/^\d+$/.test(retention.trim()) || r < 1 || r > 3650) out.retention = 'Enter a number of days from 1 to 3650, or leave it empty.';
  }
  return out;
}

export function PolicyEditor() {
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [required, setRequired] = useState(false);
  const [timeout, setTimeoutValue] = useState('5');
  const [mfa, setMfa] = useState(false);
  const [sso, setSso] = useState(false);
  const [retention, setRetention] = useState('');
  const [saved, setSaved] = useState(false);
  const [touched, setTouched] = useState(false);
  const adopt = (p: Policy) => {
    setPolicy(p);
    setRequired(p.app_passcode.required);
    setTimeoutValue(String(p.app_passcode.timeout_minutes));
    setMfa(p.mfa_required);
    setSso(Boolean(p.sso_required));
    setRetention(p.message_retention_days ? String(p.message_retention_days) : '');
  };
  const [loadError, setLoadError] = useState<unknown>(null);
  useEffect(() => {
    api.call<Policy>('GET', '/v1/policy').then(adopt, setLoadError);
  }, []);
  const errors = useMemo(() => policyErrors(timeout, retention), [timeout, retention]);
  const form = useSubmit(async () => {
    setTouched(true);
    setSaved(false);
    if (Object.keys(errors).length) return;
    const body: Record<string, unknown> = {
      app_passcode: { required, timeout_minutes: Number(timeout) },
      mfa_required: mfa,
      sso_required: sso,
    };
    if (retention.trim()) body.message_retention_days = Number(retention);
    adopt(await api.call<Policy>('PUT', '/v1/admin/policy', body));
    setSaved(true);
  });
  return (
    <Screen title="Tenant policy">
      <ErrorAlert error={loadError} />
      {policy && (
        <>
          <section class="panel" aria-labelledby="fixed-h">
            <h2 id="fixed-h">Fixed rules</h2>
            <dl class="facts">
              <dt>Passwords</dt>
              <dd>
                {policy.password.min_length}–{policy.password.max_length} characters, upper- and lower-case letters, a
                digit or special character
              </dd>
              <dt>Lockout</dt>
              <dd>
                After {policy.lockout.max_attempts} failed attempts, for {policy.lockout.duration_minutes} minutes
              </dd>
              <dt>Idle sessions end after</dt>
              <dd>{policy.session_idle_timeout_hours} hours</dd>
            </dl>
          </section>
          <form class="panel" onSubmit={form.submit} novalidate aria-labelledby="edit-h">
            <h2 id="edit-h">Settings</h2>
            {saved && <Alert kind="success">The policy is saved.</Alert>}
            <ErrorAlert error={form.error} />
            <div class="check">
              <input type="checkbox" id="pol-mfa" checked={mfa} onChange={(e) => setMfa((e.currentTarget as HTMLInputElement).checked)} />
              <label for="pol-mfa">Require two-step verification for everyone</label>
            </div>
            <div class="check">
              <input
                type="checkbox"
                id="pol-sso"
                checked={sso}
                aria-describedby="pol-sso-hint"
                onChange={(e) => setSso((e.currentTarget as HTMLInputElement).checked)}
              />
              <label for="pol-sso">Require single sign-on</label>
            </div>
            <p class="hint" id="pol-sso-hint">
              Everyone then signs in through your identity provider; password sign-in and password resets are refused.
              Administrators keep password sign-in, so they can still get in if the identity provider fails. Set up{' '}
              <Link href="/admin/sso">single sign-on</Link> first.
            </p>
            <div class="check">
              <input
                type="checkbox"
                id="pol-passcode"
                checked={required}
                onChange={(e) => setRequired((e.currentTarget as HTMLInputElement).checked)}
              />
              <label for="pol-passcode">Require an app passcode on mobile devices</label>
            </div>
            <Field
              label="Lock the mobile app after (minutes)"
              inputMode="numeric"
              value={timeout}
              onValue={(v) => {
                setTimeoutValue(v);
                setTouched(true);
              }}
              hint="From 1 to 15 minutes."
              error={touched ? errors.timeout : null}
            />
            <Field
              label="Delete messages after (days)"
              inputMode="numeric"
              value={retention}
              onValue={(v) => {
                setRetention(v);
                setTouched(true);
              }}
              hint="Leave empty to keep messages."
              error={touched ? errors.retention : null}
            />
            <div class="actions">
              <button type="submit" disabled={form.busy}>
                Save the policy
              </button>
            </div>
          </form>
        </>
      )}
    </Screen>
  );
}

const HEX32 = /^[0-9a-fA-F]{32}$/;

/** The tenant's Agora credentials for live sessions (stored encrypted, never shown again). */
export function Integrations() {
  const [appId, setAppId] = useState('');
  const [cert, setCert] = useState('');
  const [saved, setSaved] = useState(false);
  const [touched, setTouched] = useState(false);
  const errors = {
    appId: HEX32.test(appId.trim()) ? null : 'The App ID is 32 hexadecimal characters.',
    cert: HEX32.test(cert.trim()) ? null : 'The App Certificate is 32 hexadecimal characters.',
  };
  const form = useSubmit(async () => {
    setTouched(true);
    setSaved(false);
    if (errors.appId || errors.cert) return;
    await api.call('PUT', '/v1/admin/integrations/agora', { app_id: appId.trim(), app_certificate: cert.trim() });
    setCert('');
    setSaved(true);
  });
  return (
    <Screen title="Integrations">
      <form class="panel" onSubmit={form.submit} novalidate aria-labelledby="agora-h">
        <h2 id="agora-h">Agora (live event sessions)</h2>
        <p>
          Live sessions of events are streamed with Agora. The certificate is stored encrypted and never shown again;
          saving replaces the current credentials.
        </p>
        {saved && <Alert kind="success">The Agora credentials are saved.</Alert>}
        <ErrorAlert error={form.error} />
        <Field label="App ID" value={appId} onValue={setAppId} autoComplete="off" error={touched ? errors.appId : null} />
        <Field
          label="App Certificate"
          type="password"
          value={cert}
          onValue={setCert}
          autoComplete="off"
          error={touched ? errors.cert : null}
        />
        <div class="actions">
          <button type="submit" disabled={form.busy}>
            Save the credentials
          </button>
        </div>
      </form>
    </Screen>
  );
}

// ---- Single sign-on ---------------------------------------------------------------------------

interface JitView {
  enabled: boolean;
  role: string;
}

interface OidcView {
  issuer: string;
  client_id: string;
  client_secret_set: boolean;
  scopes: string[];
  email_claim: string;
  redirect_uris: string[];
  jit: JitView;
  updated_at?: string | null;
}

/** The stored SAML connection: certificates only as fingerprints, and Bulwark's own SP values. */
interface SamlView {
  idp_entity_id?: string;
  sso_url?: string;
  signing_certificates?: { sha256_fingerprint?: string }[];
  email_attribute?: string | null;
  redirect_uris?: string[];
  jit?: JitView;
  sp_entity_id?: string;
  acs_url?: string;
  updated_at?: string | null;
}

interface SsoView {
  oidc: OidcView | null;
  saml: SamlView | null;
}

const JIT_ROLES: [JitRole, string][] = [
  ['member', 'Member'],
  ['auditor', 'Auditor'],
  ['organizer', 'Organizer'],
];

const jitOf = (j?: JitView): JitForm => ({
  enabled: j?.enabled ?? false,
  role: JIT_ROLES.some(([r]) => r === j?.role) ? (j!.role as JitRole) : 'member',
});

/**
 * Saving and removing one SSO connection (`/v1/admin/sso/<protocol>`): the form's own checks
 * first (shown once it was submitted), then the server's validation next to its field.
 */
function useSsoConnection(
  protocol: 'oidc' | 'saml',
  fields: string[],
  errors: FieldErrors,
  body: () => unknown,
  saved: string,
  onChanged: (message: string) => void,
) {
  const [touched, setTouched] = useState(false);
  const server = useServerErrors(fields);
  const path = `/v1/admin/sso/${protocol}`;
  const err = (name: string) => (touched ? errors[name] : null) ?? server.byField[name] ?? null;
  const form = useSubmit(async () => {
    setTouched(true);
    server.clear();
    if (Object.keys(errors).length) return;
    try {
      await api.call('PUT', path, body());
    } catch (e) {
      server.take(e);
      return;
    }
    onChanged(saved);
  });
  const remove = async () => {
    try {
      await api.call('DELETE', path);
      onChanged(`The ${protocol.toUpperCase()} connection is removed.`);
    } catch (e) {
      server.take(e);
    }
  };
  return { err, form, remove, server };
}

/** This app's own callback: the address the IdP's answer comes back to. */
const appCallback = () => location.origin + CALLBACK_PATH;

/** A form's server-side errors: a 422 about one field goes next to it, anything else above. */
function useServerErrors(fields: string[]) {
  const [byField, setByField] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<unknown>(null);
  return {
    byField,
    general,
    clear() {
      setByField({});
      setGeneral(null);
    },
    take(e: unknown) {
      const f = e instanceof api.ApiError && e.status === 422 ? fieldOfError(e.message, e.details, fields) : null;
      if (f && e instanceof api.ApiError) {
        setByField({ [f]: e.message });
        setGeneral(null);
      } else {
        setByField({});
        setGeneral(e);
      }
    },
  };
}

function JitFields(props: { id: string; value: JitForm; onValue: (v: JitForm) => void; error?: string | null }) {
  const { value, onValue } = props;
  return (
    <fieldset>
      <legend>New people</legend>
      <div class="check">
        <input
          type="checkbox"
          id={`${props.id}-jit`}
          checked={value.enabled}
          onChange={(e) => onValue({ ...value, enabled: (e.currentTarget as HTMLInputElement).checked })}
        />
        <label for={`${props.id}-jit`}>Create an account at the first sign-in of someone without one</label>
      </div>
      <Select
        id={`${props.id}-jit-role`}
        label="Role of the accounts created"
        value={value.role}
        onValue={(r) => onValue({ ...value, role: r as JitRole })}
        options={JIT_ROLES}
      />
      {props.error && <div class="field-error">{props.error}</div>}
      <p class="hint">Without this, only people who already have a Bulwark account (by email) can sign in. Accounts are never created as administrators.</p>
    </fieldset>
  );
}

const REDIRECT_HINT = "Addresses of this app that may receive sign-ins, one a line. This app's own is filled in.";

/** What both connection forms end with: redirect URIs, just-in-time accounts, save and remove. */
function SsoFormEnd(props: {
  id: string;
  name: string;
  f: { redirectUris: string; jit: JitForm };
  onValue: (patch: { redirectUris?: string; jit?: JitForm }) => void;
  sso: ReturnType<typeof useSsoConnection>;
  connected: boolean;
}) {
  const { f, sso } = props;
  return (
    <>
      <TextArea label="Redirect URIs" value={f.redirectUris} onValue={(v) => props.onValue({ redirectUris: v })} error={sso.err('redirect_uris')} hint={REDIRECT_HINT} />
      <JitFields id={props.id} value={f.jit} onValue={(jit) => props.onValue({ jit })} error={sso.server.byField.jit} />
      <div class="actions">
        <button type="submit" disabled={sso.form.busy}>
          Save the {props.name} settings
        </button>
        {props.connected && (
          <ConfirmButton
            label={`Remove ${props.name}`}
            question={`Remove the ${props.name} connection? Its single sign-on stops at once.`}
            confirmLabel="Remove"
            danger
            onConfirm={sso.remove}
          />
        )}
      </div>
    </>
  );
}

const OIDC_FIELDS = ['issuer', 'client_id', 'client_secret', 'scopes', 'email_claim', 'redirect_uris', 'jit'];

function OidcSection(props: { config: OidcView | null; onChanged: (notice: string) => void }) {
  const c = props.config;
  const [f, setF] = useState<OidcForm>({
    issuer: c?.issuer ?? '',
    clientId: c?.client_id ?? '',
    clientSecret: '',
    scopes: (c?.scopes ?? ['openid', 'email']).join(' '),
    emailClaim: c?.email_claim ?? 'email',
    redirectUris: (c?.redirect_uris ?? [appCallback()]).join('\n'),
    jit: jitOf(c?.jit),
  });
  const set = (patch: Partial<OidcForm>) => setF((old) => ({ ...old, ...patch }));
  const secretSet = Boolean(c?.client_secret_set);
  const sso = useSsoConnection(
    'oidc',
    OIDC_FIELDS,
    oidcErrors(f, secretSet),
    () => oidcBody(f),
    'The OIDC settings are saved. People can now sign in with single sign-on.',
    props.onChanged,
  );
  const { err } = sso;


  return (
    <section class="panel" aria-labelledby="oidc-h">
      <h2 id="oidc-h">
        OpenID Connect (OIDC){' '}
        <span class={c ? 'tag ok' : 'tag'}>{c ? 'Connected' : 'Not connected'}</span>
      </h2>
      <p>Register Bulwark at your identity provider as a confidential web client with this redirect URI:</p>
      <dl class="copy-values">
        <CopyValue label="OIDC redirect URI" value={`${api.apiOrigin()}/v1/sso/oidc/callback`} />
      </dl>
      <form onSubmit={sso.form.submit} novalidate aria-label="OIDC settings">
        <ErrorAlert error={sso.server.general} />
        <Field label="Issuer URL" value={f.issuer} onValue={(v) => set({ issuer: v })} autoComplete="off" inputMode="url" error={err('issuer')} hint="Bulwark reads its discovery document to check it." />
        <div class="row">
          <Field label="Client ID" value={f.clientId} onValue={(v) => set({ clientId: v })} autoComplete="off" error={err('client_id')} />
          <Field
            label={secretSet ? 'Client secret (replace)' : 'Client secret'}
            type="password"
            value={f.clientSecret}
            onValue={(v) => set({ clientSecret: v })}
            autoComplete="new-password"
            error={err('client_secret')}
            hint={secretSet ? 'A secret is set; it is stored encrypted and never shown. Saving needs it again, or a new one.' : 'Stored encrypted; never shown again.'}
          />
        </div>
        <div class="row">
          <Field label="Scopes" value={f.scopes} onValue={(v) => set({ scopes: v })} autoComplete="off" error={err('scopes')} hint="Separated by spaces; openid is required." />
          <Field label="Email claim" value={f.emailClaim} onValue={(v) => set({ emailClaim: v })} autoComplete="off" error={err('email_claim')} hint="The ID token claim holding the email address." />
        </div>
        <SsoFormEnd id="oidc" name="OIDC" f={f} onValue={set} sso={sso} connected={Boolean(c)} />
      </form>
    </section>
  );
}

const SAML_FIELDS = ['idp_metadata_xml', 'idp_entity_id', 'sso_url', 'signing_certificates', 'email_attribute', 'redirect_uris', 'jit'];

function SamlSection(props: { config: SamlView | null; tenant: string; onChanged: (notice: string) => void }) {
  const c = props.config;
  const [f, setF] = useState<SamlForm>({
    source: c ? 'manual' : 'metadata',
    metadataXml: '',
    entityId: c?.idp_entity_id ?? '',
    ssoUrl: c?.sso_url ?? '',
    // Stored certificates are shown as fingerprints only; a change needs them pasted again.
    certificates: '',
    emailAttribute: c?.email_attribute ?? '',
    redirectUris: (c?.redirect_uris ?? [appCallback()]).join('\n'),
    jit: jitOf(c?.jit),
  });
  const set = (patch: Partial<SamlForm>) => setF((old) => ({ ...old, ...patch }));
  const sso = useSsoConnection(
    'saml',
    SAML_FIELDS,
    samlErrors(f),
    () => samlBody(f),
    'The SAML settings are saved.',
    props.onChanged,
  );
  const { err } = sso;

  const origin = api.apiOrigin();
  const fingerprints = (c?.signing_certificates ?? []).map((x) => x?.sha256_fingerprint).filter((x): x is string => Boolean(x));
  const radio = (value: SamlForm['source'], label: string) => (
    <div class="check">
      <input type="radio" id={`saml-src-${value}`} name="saml-source" checked={f.source === value} onChange={() => set({ source: value })} />
      <label for={`saml-src-${value}`}>{label}</label>
    </div>
  );
  return (
    <section class="panel" aria-labelledby="saml-h">
      <h2 id="saml-h">
        SAML 2.0 <span class={c ? 'tag ok' : 'tag'}>{c ? 'Connected' : 'Not connected'}</span>
      </h2>
      <p>Give your identity provider these values for Bulwark (the service provider):</p>
      <dl class="copy-values">
        <CopyValue
          label="SP entity ID and metadata URL"
          value={c?.sp_entity_id || `${origin}/v1/sso/${encodeURIComponent(props.tenant)}/saml/metadata`}
        />
        <CopyValue label="Assertion Consumer Service (ACS) URL" value={c?.acs_url || `${origin}/v1/sso/saml/acs`} />
      </dl>
      {c && (
        <dl class="facts">
          <dt>IdP entity ID</dt>
          <dd>
            <code>{c.idp_entity_id}</code>
          </dd>
          <dt>Signing certificates (SHA-256)</dt>
          <dd>
            {fingerprints.length
              ? fingerprints.map((fp) => (
                  <div key={fp}>
                    <code>{fp}</code>
                  </div>
                ))
              : 'None shown'}
          </dd>
        </dl>
      )}
      <form onSubmit={sso.form.submit} novalidate aria-label="SAML settings">
        <ErrorAlert error={sso.server.general} />
        <fieldset>
          <legend>The identity provider</legend>
          {radio('metadata', 'Paste its metadata XML')}
          {radio('manual', 'Enter its entity ID, sign-on URL and certificates')}
        </fieldset>
        {f.source === 'metadata' ? (
          <TextArea label="IdP metadata XML" rows={6} mono value={f.metadataXml} onValue={(v) => set({ metadataXml: v })} error={err('idp_metadata_xml')} />
        ) : (
          <>
            <Field label="IdP entity ID" value={f.entityId} onValue={(v) => set({ entityId: v })} autoComplete="off" error={err('idp_entity_id')} />
            <Field label="IdP single sign-on URL" value={f.ssoUrl} onValue={(v) => set({ ssoUrl: v })} autoComplete="off" inputMode="url" error={err('sso_url')} />
            <TextArea
              label="Signing certificates (PEM)"
              rows={6}
              mono
              value={f.certificates}
              onValue={(v) => set({ certificates: v })}
              error={err('signing_certificates')}
              hint={`One or more, each from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE----- (two during a key rollover).${
                c ? ' The stored ones are never shown: paste them again, or new ones, to save a change.' : ''
              }`}
            />
          </>
        )}
        <Field
          label="Email attribute"
          value={f.emailAttribute}
          onValue={(v) => set({ emailAttribute: v })}
          autoComplete="off"
          error={err('email_attribute')}
          hint="Leave empty to use the NameID (format emailAddress)."
        />
        <SsoFormEnd id="saml" name="SAML" f={f} onValue={set} sso={sso} connected={Boolean(c)} />
      </form>
    </section>
  );
}

/** The tenant's identity providers (admins): OIDC and SAML 2.0, and what their admins need. */
export function SingleSignOn(props: { tenant: string }) {
  const [view, setView] = useState<SsoView | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = () =>
    api.call<SsoView>('GET', '/v1/admin/sso').then(
      (v) => {
        setView({ oidc: v?.oidc ?? null, saml: v?.saml ?? null });
        setLoadError(null);
      },
      setLoadError,
    );
  useEffect(() => void load(), []);
  const changed = (message: string) => {
    setNotice(message);
    void load();
  };
  return (
    <Screen title="Single sign-on">
      <p>
        Connect your organisation's identity provider: people then sign in there, with its own two-step verification,
        and Bulwark never sees their password. To make it the only way in for everyone but administrators, turn on
        “Require single sign-on” in the <Link href="/admin/policy">tenant policy</Link>.
      </p>
      {notice && <Alert kind="success">{notice}</Alert>}
      <ErrorAlert error={loadError} />
      {view === null ? (
        !loadError && <p role="status">Loading…</p>
      ) : (
        <>
          <OidcSection key={`oidc-${view.oidc?.updated_at ?? (view.oidc ? 'set' : 'none')}`} config={view.oidc} onChanged={changed} />
          <SamlSection key={`saml-${view.saml?.updated_at ?? (view.saml ? 'set' : 'none')}`} config={view.saml} tenant={props.tenant} onChanged={changed} />
        </>
      )}
    </Screen>
  );
}

interface AuditEvent {
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  [k: string]: unknown;
}

export function Audit() {
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [action, setAction] = useState('');
  const [outcome, setOutcome] = useState('');
  const [actor, setActor] = useState('');
  const load = async (from?: string | null) => {
    setBusy(true);
    try {
      const q = from ? `&cursor=${encodeURIComponent(from)}` : '';
      const r = await api.call<{ events: AuditEvent[]; next_cursor: string | null }>('GET', `/v1/admin/audit?limit=50${q}`);
      setEvents((old) => (from ? [...old, ...r.events] : r.events));
      setCursor(r.next_cursor);
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => void load(), []);
  const actions = [...new Set(events.map((e) => e.action))].sort();
  const outcomes = [...new Set(events.map((e) => e.outcome))].sort();
  const shown = events.filter(
    (e) =>
      (!action || e.action === action) &&
      (!outcome || e.outcome === outcome) &&
      (!actor.trim() || `${e.actor} ${e.target}`.toLowerCase().includes(actor.trim().toLowerCase())),
  );
  return (
    <Screen title="Audit log">
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <Select label="Action" value={action} onValue={setAction} options={[['', 'All actions'], ...actions.map((a): [string, string] => [a, a])]} />
        <Select label="Outcome" value={outcome} onValue={setOutcome} options={[['', 'All outcomes'], ...outcomes.map((a): [string, string] => [a, a])]} />
        <Field label="Actor or target contains" value={actor} onValue={setActor} autoComplete="off" />
      </form>
      <p class="hint" role="status">
        {cursor === undefined ? 'Loading…' : `${shown.length} of ${events.length} loaded events shown${cursor ? '; older events can be loaded' : ''}.`}
      </p>
      {error ? <Alert>{errorText(error)}</Alert> : null}
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Audit events">
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Action</th>
              <th scope="col">Outcome</th>
              <th scope="col">Actor</th>
              <th scope="col">Target</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e, i) => (
              <tr key={`${e.at}-${i}`}>
                <td>
                  <time dateTime={e.at}>{dateTime(e.at)}</time>
                </td>
                <td>{e.action}</td>
                <td>{e.outcome}</td>
                <td>
                  <code>{e.actor}</code>
                </td>
                <td>
                  <code>{e.target}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {cursor && (
        <div class="actions">
          <button type="button" class="secondary" disabled={busy} onClick={() => load(cursor)}>
            Load older events
          </button>
        </div>
      )}
    </Screen>
  );
}
