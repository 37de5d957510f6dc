// Tenant administration: users (invite, role, disable, unlock, forced password change, MFA
// reset, device-key reset — the remote wipe — each consequential action behind a confirm
// step), the tenant policy editor with validation, and the audit log with paging and filters.
import { useEffect, useMemo, useState } from 'preact/hooks';

import * as api from '../api';
import { dateTime } from '../lib/format';
import type { Me, Policy } from '../session';
import { Alert, ConfirmButton, ErrorAlert, Field, Screen, Select, errorText, useSubmit } from '../ui';

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
  const [retention, setRetention] = useState('');
  const [saved, setSaved] = useState(false);
  const [touched, setTouched] = useState(false);
  const adopt = (p: Policy) => {
    setPolicy(p);
    setRequired(p.app_passcode.required);
    setTimeoutValue(String(p.app_passcode.timeout_minutes));
    setMfa(p.mfa_required);
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
