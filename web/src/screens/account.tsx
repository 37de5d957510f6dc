// The signed-in person's own account: profile, password change (also the forced one), and
// security: TOTP enrolment with its QR code and recovery codes, turning MFA off, security
// questions. Every factor change asks for the current password (and a code when MFA is on).
import { useState } from 'preact/hooks';

import * as api from '../api';
import type { Me } from '../session';
import { Alert, ErrorAlert, Field, Qr, Screen, saveText, useSubmit } from '../ui';
import { NewPassword, passwordReady } from './auth';

export function Profile(props: { me: Me }) {
  const { me } = props;
  return (
    <Screen title="Your account">
      <dl class="facts">
        <dt>Name</dt>
        <dd>{me.display_name}</dd>
        <dt>Email</dt>
        <dd>{me.email}</dd>
        <dt>Organisation</dt>
        <dd>{me.tenant}</dd>
        <dt>Role</dt>
        <dd>{me.role}</dd>
        <dt>Your user ID</dt>
        <dd>
          <code>{me.user_id}</code> <span class="hint">(others add you to a conversation with it)</span>
        </dd>
        <dt>Two-step verification</dt>
        <dd>{me.mfa_enabled ? 'On' : 'Off'}</dd>
      </dl>
    </Screen>
  );
}

export function ChangePassword(props: { forced: boolean; onChanged: () => void }) {
  const [current, setCurrent] = useState('');
  const [pw, setPw] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState(false);
  const form = useSubmit(async () => {
    await api.call('POST', '/v1/me/password', { current_password: current, new_password: pw });
    setCurrent('');
    setPw('');
    setConfirm('');
    setDone(true);
    props.onChanged();
  });
  return (
    <Screen title={props.forced ? 'Change your password to continue' : 'Change password'} narrow>
      {props.forced && !done && (
        <Alert kind="info">Your administrator asks you to choose a new password before you continue.</Alert>
      )}
      {done && <Alert kind="success">Your password is changed. Your other sessions are signed out.</Alert>}
      <form onSubmit={form.submit} novalidate>
        <ErrorAlert error={form.error} />
        <Field
          label="Current password"
          type="password"
          value={current}
          onValue={setCurrent}
          autoComplete="current-password"
          required
        />
        <NewPassword value={pw} onValue={setPw} confirm={confirm} onConfirm={setConfirm} />
        <div class="actions">
          <button type="submit" disabled={form.busy || !current || !passwordReady(pw, confirm)}>
            Change password
          </button>
        </div>
      </form>
    </Screen>
  );
}

interface Enrolment {
  secret: string;
  otpauth_uri: string;
}

function Enrol(props: { onEnabled: () => void }) {
  const [password, setPassword] = useState('');
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const start = useSubmit(async () => {
    setEnrolment(await api.call<Enrolment>('POST', '/v1/me/mfa/totp', { password }));
    setPassword('');
  });
  const confirm = useSubmit(async () => {
    const r = await api.call<{ recovery_codes: string[] }>('POST', '/v1/me/mfa/totp/confirm', {
      code: code.replace(/\s+/g, ''),
    });
    setCodes(r.recovery_codes);
  });

  if (codes)
    return (
      <section aria-labelledby="codes-h">
        <h2 id="codes-h">Your recovery codes</h2>
        <Alert kind="success">Two-step verification is on.</Alert>
        <p>
          Keep these codes somewhere safe. Each one signs you in once if you lose your authenticator. They are shown only
          now.
        </p>
        <ol class="codes" aria-label="Recovery codes">
          {codes.map((c) => (
            <li key={c}>
              <code>{c}</code>
            </li>
          ))}
        </ol>
        <div class="actions">
          <button type="button" onClick={() => saveText('bulwark-recovery-codes.txt', codes.join('\n') + '\n')}>
            Download the codes
          </button>
          <button type="button" class="secondary" onClick={props.onEnabled}>
            I have saved them
          </button>
        </div>
      </section>
    );

  if (enrolment)
    return (
      <section aria-labelledby="scan-h">
        <h2 id="scan-h">Scan the code</h2>
        <p>Scan this QR code with your authenticator app, then enter the 6-digit code it shows.</p>
        <Qr text={enrolment.otpauth_uri} label="QR code for your authenticator app" />
        <details>
          <summary>Can't scan it? Enter the key by hand</summary>
          <p>
            Key: <code class="secret">{enrolment.secret}</code>
          </p>
        </details>
        <form onSubmit={confirm.submit} novalidate>
          <ErrorAlert error={confirm.error} />
          <Field
            label="Code from the app"
            value={code}
            onValue={setCode}
            inputMode="numeric"
            autoComplete="one-time-code"
            required
          />
          <div class="actions">
            <button type="submit" disabled={confirm.busy}>
              Turn on two-step verification
            </button>
          </div>
        </form>
      </section>
    );

  return (
    <form onSubmit={start.submit} novalidate aria-labelledby="enrol-h">
      <h2 id="enrol-h">Set up two-step verification</h2>
      <p>You will need an authenticator app on your phone. Confirm your password to start.</p>
      <ErrorAlert error={start.error} />
      <Field
        label="Password"
        type="password"
        value={password}
        onValue={setPassword}
        autoComplete="current-password"
        required
      />
      <div class="actions">
        <button type="submit" disabled={start.busy || !password}>
          Start
        </button>
      </div>
    </form>
  );
}

function Disable(props: { onDisabled: () => void }) {
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const form = useSubmit(async () => {
    await api.call('DELETE', '/v1/me/mfa/totp', { password, code });
    props.onDisabled();
  });
  return (
    <form onSubmit={form.submit} novalidate aria-labelledby="disable-h">
      <h2 id="disable-h">Turn off two-step verification</h2>
      <ErrorAlert error={form.error} />
      <Field label="Password" type="password" value={password} onValue={setPassword} autoComplete="current-password" />
      <Field label="Current code" value={code} onValue={setCode} inputMode="numeric" autoComplete="one-time-code" />
      <div class="actions">
        <button type="submit" class="danger" disabled={form.busy || !password || !code}>
          Turn off
        </button>
      </div>
    </form>
  );
}

function SecurityQuestions(props: { mfaOn: boolean }) {
  const [q1, setQ1] = useState('');
  const [a1, setA1] = useState('');
  const [q2, setQ2] = useState('');
  const [a2, setA2] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [saved, setSaved] = useState(false);
  const form = useSubmit(async () => {
    const body: Record<string, unknown> = {
      password,
      questions: [
        { question: q1, answer: a1 },
        { question: q2, answer: a2 },
      ],
    };
    if (props.mfaOn) body.code = code;
    await api.call('PUT', '/v1/me/security-questions', body);
    setSaved(true);
    setPassword('');
    setCode('');
  });
  return (
    <form onSubmit={form.submit} novalidate aria-labelledby="sq-h">
      <h2 id="sq-h">Security questions</h2>
      <p>
        Two questions only you can answer let you recover your account if you lose your authenticator. Answers are not
        case sensitive.
      </p>
      {saved && <Alert kind="success">Your security questions are saved.</Alert>}
      <ErrorAlert error={form.error} />
      <Field label="First question" value={q1} onValue={setQ1} required />
      <Field label="First answer" value={a1} onValue={setA1} autoComplete="off" required />
      <Field label="Second question" value={q2} onValue={setQ2} required />
      <Field label="Second answer" value={a2} onValue={setA2} autoComplete="off" required />
      <Field
        label="Password"
        type="password"
        value={password}
        onValue={setPassword}
        autoComplete="current-password"
        required
      />
      {props.mfaOn && (
        <Field label="Current code" value={code} onValue={setCode} inputMode="numeric" autoComplete="one-time-code" />
      )}
      <div class="actions">
        <button type="submit" disabled={form.busy || !q1 || !a1 || !q2 || !a2 || !password}>
          Save the questions
        </button>
      </div>
    </form>
  );
}

export function Security(props: { me: Me; enrolmentRequired: boolean; onChanged: () => void }) {
  const { me } = props;
  return (
    <Screen title="Security">
      {props.enrolmentRequired && (
        <Alert kind="info">Your organisation requires two-step verification. Set it up to continue.</Alert>
      )}
      <div class="panel">{me.mfa_enabled ? <Disable onDisabled={props.onChanged} /> : <Enrol onEnabled={props.onChanged} />}</div>
      {!props.enrolmentRequired && (
        <div class="panel">
          <SecurityQuestions mfaOn={me.mfa_enabled} />
        </div>
      )}
    </Screen>
  );
}
