// The screens before a session: sign-in with its MFA step and lockout countdown, forgotten
// password and reset, invitation acceptance, and the alternate recovery (security answers, then
// the emailed link) for a lost authenticator.
import { useEffect, useState } from 'preact/hooks';

import * as api from '../api';
import { ApiError } from '../api';
import { duration } from '../lib/format';
import { checkPassword } from '../lib/policy';
import { navigate, takeToken } from '../lib/router';
import {
  CALLBACK_PATH,
  type SsoMethod,
  callbackErrorText,
  challengeOf,
  displayableCode,
  exchangeOnce,
  isSlug,
  keepVerifier,
  knownMethods,
  newVerifier,
  startUrl,
  takeCallback,
  takeVerifier,
} from '../lib/sso';
import { Alert, CurrentPassword, ErrorAlert, Field, Link, Screen, useSubmit } from '../ui';

const TENANT_KEY = 'bulwark.tenant';

function rememberedTenant(): string {
  try {
    return localStorage.getItem(TENANT_KEY) ?? '';
  } catch {
    return '';
  }
}

function rememberTenant(tenant: string): void {
  try {
    localStorage.setItem(TENANT_KEY, tenant);
  } catch {
    // Private mode: nothing to remember.
  }
}

/** The single sign-on methods of `tenant` (asked once it looks like a slug, after typing stops). */
function useSsoMethods(tenant: string): SsoMethod[] {
  const [methods, setMethods] = useState<SsoMethod[]>([]);
  useEffect(() => {
    const slug = tenant.trim();
    setMethods([]);
    if (!isSlug(slug)) return;
    let live = true;
    const t = setTimeout(() => {
      void api.ssoMethods(slug).then((answer) => {
        if (live) setMethods(knownMethods(answer));
      });
    }, 250);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [tenant]);
  return methods;
}

const METHOD_LABEL: Record<SsoMethod, string> = { oidc: 'OIDC', saml: 'SAML' };

/**
 * "Sign in with single sign-on": the whole tab goes to the IdP (through Bulwark's start route)
 * and comes back to /sso/callback. The PKCE verifier stays in this tab for the exchange.
 */
function SsoButtons(props: { tenant: string; methods: SsoMethod[] }) {
  const [busy, setBusy] = useState(false);
  const [unsupported, setUnsupported] = useState(false);
  if (!props.methods.length) return null;
  const go = async (method: SsoMethod) => {
    setBusy(true);
    const tenant = props.tenant.trim();
    rememberTenant(tenant);
    let challenge: string | undefined;
    try {
      const verifier = newVerifier();
      if (keepVerifier(verifier)) challenge = await challengeOf(verifier);
    } catch {
      takeVerifier();
    }
    // The callback finishes only sign-ins that carry this tab's PKCE pair (login CSRF): without
    // storage or Web Crypto there would be no way back, so do not leave.
    if (!challenge) {
      setBusy(false);
      setUnsupported(true);
      return;
    }
    location.assign(startUrl(api.apiBase(), tenant, method, location.origin + CALLBACK_PATH, challenge));
  };
  const both = props.methods.length > 1;
  return (
    <section class="sso" aria-labelledby="sso-h">
      <h2 id="sso-h" class="sr-only">
        Single sign-on
      </h2>
      <p class="divider">
        <span>or</span>
      </p>
      {unsupported && (
        <p role="alert" class="error">
          Single sign-on needs this browser's session storage and a secure (https) page, and one of them is
          unavailable here. Allow site storage, or sign in with your password.
        </p>
      )}
      <div class="actions">
        {props.methods.map((m) => (
          <button type="button" key={m} class="secondary" disabled={busy} onClick={() => void go(m)}>
            Sign in with single sign-on{both ? ` (${METHOD_LABEL[m]})` : ''}
          </button>
        ))}
      </div>
    </section>
  );
}

/** Counts down the seconds of a lockout from its Retry-After. */
function useCountdown(seconds: number | null): number | null {
  const [left, setLeft] = useState(seconds);
  useEffect(() => {
    setLeft(seconds);
    if (seconds === null) return;
    const end = Date.now() + seconds * 1000;
    const t = setInterval(() => {
      const s = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      setLeft(s);
      if (s === 0) clearInterval(t);
    }, 1000);
    return () => clearInterval(t);
  }, [seconds]);
  return left;
}

function LockedAlert(props: { seconds: number }) {
  const left = useCountdown(props.seconds);
  return (
    <Alert>
      <strong>This account is locked</strong> after too many failed attempts. Try again in{' '}
      <span class="countdown">{duration(left ?? props.seconds)}</span>, or ask your administrator to unlock it.
    </Alert>
  );
}

function SubmitError(props: { error: unknown }) {
  const e = props.error;
  if (e instanceof ApiError && e.code === 'account_locked') return <LockedAlert seconds={e.retryAfter ?? 900} />;
  return <ErrorAlert error={e} />;
}

export function SignIn(props: { onSignedIn: (t: api.TokenAnswer) => void; notice?: string | null }) {
  const [tenant, setTenant] = useState(rememberedTenant());
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [useRecovery, setUseRecovery] = useState(false);
  const methods = useSsoMethods(tenant);

  const signIn = useSubmit(async () => {
    const answer = await api.login(tenant.trim(), email.trim(), password);
    rememberTenant(tenant.trim());
    setPassword('');
    if ('mfa_required' in answer) setMfaToken(answer.mfa_token);
    else props.onSignedIn(answer);
  });
  const second = useSubmit(async () => {
    props.onSignedIn(await api.completeMfa(mfaToken!, code.replace(/\s+/g, '')));
  });

  if (mfaToken)
    return (
      <Screen title="Two-step verification" narrow>
        <p>
          {useRecovery
            ? 'Enter one of the recovery codes you saved when you set up two-step verification. Each works once.'
            : 'Enter the 6-digit code from your authenticator app.'}
        </p>
        <form onSubmit={second.submit} novalidate>
          <SubmitError error={second.error} />
          <Field
            label={useRecovery ? 'Recovery code' : 'Authentication code'}
            value={code}
            onValue={setCode}
            autoComplete="one-time-code"
            inputMode={useRecovery ? 'text' : 'numeric'}
            required
            autoFocus
          />
          <div class="actions">
            <button type="submit" disabled={second.busy}>
              Verify
            </button>
            <button
              type="button"
              class="link-button"
              onClick={() => {
                setUseRecovery(!useRecovery);
                setCode('');
              }}
            >
              {useRecovery ? 'Use my authenticator app instead' : 'Use a recovery code instead'}
            </button>
          </div>
        </form>
        <p>
          Lost your authenticator and your recovery codes? <Link href="/recover">Recover with your security answers</Link>.
        </p>
      </Screen>
    );

  return (
    <Screen title="Sign in to Bulwark" narrow>
      {props.notice && <Alert kind="info">{props.notice}</Alert>}
      <form onSubmit={signIn.submit} novalidate>
        <SubmitError error={signIn.error} />
        <Field
          label="Organisation"
          hint="Your organisation's short name, as in your invitation."
          value={tenant}
          onValue={setTenant}
          autoComplete="organization"
          autoCapitalize="none"
          required
        />
        <Field label="Email" type="email" value={email} onValue={setEmail} autoComplete="username" required />
        <CurrentPassword label="Password" value={password} onValue={setPassword} required />
        <div class="actions">
          <button type="submit" disabled={signIn.busy}>
            Sign in
          </button>
        </div>
      </form>
      {/* Below the form, so the buttons appearing as the organisation is typed move nothing. */}
      <SsoButtons tenant={tenant} methods={methods} />
      <p>
        <Link href="/forgot">Forgot your password?</Link>
      </p>
    </Screen>
  );
}

export function Forgot() {
  const [tenant, setTenant] = useState(rememberedTenant());
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const form = useSubmit(async () => {
    await api.call('POST', '/v1/auth/password/forgot', { tenant: tenant.trim(), email: email.trim() });
    setSent(true);
  });
  return (
    <Screen title="Reset your password" narrow>
      {sent ? (
        <Alert kind="success">
          If an account exists for that address, we have emailed it a link to choose a new password. The link works
          once, for one hour.
        </Alert>
      ) : (
        <form onSubmit={form.submit} novalidate>
          <p>We will email you a link to choose a new password.</p>
          <ErrorAlert error={form.error} />
          <Field label="Organisation" value={tenant} onValue={setTenant} autoCapitalize="none" required />
          <Field label="Email" type="email" value={email} onValue={setEmail} autoComplete="username" required />
          <div class="actions">
            <button type="submit" disabled={form.busy}>
              Send the link
            </button>
          </div>
        </form>
      )}
      <p>
        <Link href="/">Back to sign in</Link>
      </p>
    </Screen>
  );
}

/** A new password with the policy checked as the person types, and its confirmation. */
export function NewPassword(props: {
  value: string;
  onValue: (v: string) => void;
  confirm: string;
  onConfirm: (v: string) => void;
  label?: string;
}) {
  const rules = checkPassword(props.value);
  const mismatch = props.confirm !== '' && props.confirm !== props.value;
  return (
    <>
      <Field
        label={props.label ?? 'New password'}
        type="password"
        value={props.value}
        onValue={props.onValue}
        autoComplete="new-password"
        required
        hint={
          <ul class="rules" aria-live="polite">
            {rules.map((r) => (
              <li key={r.id} class={r.ok ? 'ok' : 'todo'}>
                <span aria-hidden="true">{r.ok ? '✓' : '•'}</span> {r.label}
                <span class="sr-only">{r.ok ? ' (met)' : ' (not yet)'}</span>
              </li>
            ))}
          </ul>
        }
      />
      <Field
        label="Repeat the password"
        type="password"
        value={props.confirm}
        onValue={props.onConfirm}
        autoComplete="new-password"
        required
        error={mismatch ? 'The two passwords differ.' : null}
      />
    </>
  );
}

export function passwordReady(pw: string, confirm: string): boolean {
  return checkPassword(pw).every((r) => r.ok) && pw === confirm;
}

export function ResetPassword() {
  const [token] = useState(takeToken);
  const [pw, setPw] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState(false);
  const form = useSubmit(async () => {
    await api.call('POST', '/v1/auth/password/reset', { token, new_password: pw });
    setDone(true);
  });
  return (
    <Screen title="Choose a new password" narrow>
      {done ? (
        <Alert kind="success">
          Your password is changed and every other session is signed out. <Link href="/">Sign in</Link>.
        </Alert>
      ) : !token ? (
        <Alert>This link is incomplete. Open the link from the email again.</Alert>
      ) : (
        <form onSubmit={form.submit} novalidate>
          <ErrorAlert error={form.error} />
          <NewPassword value={pw} onValue={setPw} confirm={confirm} onConfirm={setConfirm} />
          <div class="actions">
            <button type="submit" disabled={form.busy || !passwordReady(pw, confirm)}>
              Change password
            </button>
          </div>
        </form>
      )}
    </Screen>
  );
}

export function AcceptInvitation() {
  const [token] = useState(takeToken);
  const [name, setName] = useState('');
  const [pw, setPw] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState(false);
  const form = useSubmit(async () => {
    await api.call('POST', '/v1/invitations/accept', { token, password: pw, display_name: name.trim() });
    setDone(true);
  });
  return (
    <Screen title="Accept your invitation" narrow>
      {done ? (
        <Alert kind="success">
          Your account is ready. <Link href="/">Sign in</Link> with your email and the password you chose.
        </Alert>
      ) : !token ? (
        <Alert>This invitation link is incomplete. Open the link from the email again.</Alert>
      ) : (
        <form onSubmit={form.submit} novalidate>
          <p>Choose the name others will see and a password.</p>
          <ErrorAlert error={form.error} />
          <Field label="Your name" value={name} onValue={setName} autoComplete="name" required maxLength={200} />
          <NewPassword value={pw} onValue={setPw} confirm={confirm} onConfirm={setConfirm} label="Password" />
          <div class="actions">
            <button type="submit" disabled={form.busy || !name.trim() || !passwordReady(pw, confirm)}>
              Create my account
            </button>
          </div>
        </form>
      )}
    </Screen>
  );
}

export function RecoverStart() {
  const [tenant, setTenant] = useState(rememberedTenant());
  const [email, setEmail] = useState('');
  const [a1, setA1] = useState('');
  const [a2, setA2] = useState('');
  const [sent, setSent] = useState(false);
  const form = useSubmit(async () => {
    await api.call('POST', '/v1/auth/mfa/recover', { tenant: tenant.trim(), email: email.trim(), answers: [a1, a2] });
    setSent(true);
  });
  return (
    <Screen title="Recover two-step verification" narrow>
      {sent ? (
        <Alert kind="success">
          If the answers are right, we have emailed a recovery link to the account's address. It works once, for one
          hour.
        </Alert>
      ) : (
        <form onSubmit={form.submit} novalidate>
          <p>
            Lost your authenticator and your recovery codes? Answer the two security questions you set up. Wrong answers
            count toward the account lockout.
          </p>
          <ErrorAlert error={form.error} />
          <Field label="Organisation" value={tenant} onValue={setTenant} autoCapitalize="none" required />
          <Field label="Email" type="email" value={email} onValue={setEmail} autoComplete="username" required />
          <Field label="Answer to your first question" value={a1} onValue={setA1} autoComplete="off" required />
          <Field label="Answer to your second question" value={a2} onValue={setA2} autoComplete="off" required />
          <div class="actions">
            <button type="submit" disabled={form.busy}>
              Send the recovery link
            </button>
          </div>
        </form>
      )}
      <p>
        <Link href="/">Back to sign in</Link>
      </p>
    </Screen>
  );
}

export function RecoverConfirm(props: { onSignedIn: (t: api.TokenAnswer, next?: string) => void }) {
  const [token] = useState(takeToken);
  const [pw, setPw] = useState('');
  const form = useSubmit(async () => {
    // MFA is off now: straight to enrolling again.
    props.onSignedIn(await api.recoverConfirm(token, pw), '/security');
  });
  return (
    <Screen title="Sign in without your authenticator" narrow>
      {!token ? (
        <Alert>This recovery link is incomplete. Open the link from the email again.</Alert>
      ) : (
        <form onSubmit={form.submit} novalidate>
          <p>Enter your password. Two-step verification will be turned off; set it up again right after.</p>
          <ErrorAlert error={form.error} />
          <CurrentPassword label="Password" value={pw} onValue={setPw} required />
          <div class="actions">
            <button type="submit" disabled={form.busy}>
              Sign in
            </button>
          </div>
        </form>
      )}
    </Screen>
  );
}

/**
 * Where the IdP's answer lands (through Bulwark): `?login_code=` or `?error=`, taken out of the
 * address bar before the app even rendered (main.tsx), exchanged once for the session.
 */
export function SsoCallback(props: { onSignedIn: (t: api.TokenAnswer) => void }) {
  const [callback] = useState(takeCallback);
  const [failure, setFailure] = useState<string | null>(
    callback.kind === 'error' ? callback.error : callback.kind === 'none' ? 'missing' : null,
  );
  useEffect(() => {
    if (callback.kind !== 'code') return;
    let live = true;
    // The same promise for every mount and render: the code is spent by the first exchange.
    // Only a sign-in this tab started (it kept the PKCE verifier) is finished here: a code
    // from anyone else's sign-in (login CSRF) is not exchanged.
    const exchange = (code: string) => {
      const verifier = takeVerifier();
      return verifier
        ? api.exchangeLoginCode(code, verifier)
        : Promise.reject(new ApiError(0, 'not_started_here', 'sign-in not started in this tab'));
    };
    exchangeOnce(callback.code, exchange).then(
      (answer) => live && props.onSignedIn(answer),
      (e) => live && setFailure(e instanceof ApiError ? e.code : 'network'),
    );
    return () => {
      live = false;
    };
  }, []);
  if (!failure)
    return (
      <Screen title="Signing you in" narrow>
        <p role="status">Finishing single sign-on…</p>
      </Screen>
    );
  const code = displayableCode(failure);
  return (
    <Screen title="Single sign-on did not work" narrow>
      <Alert>
        {failure === 'network' ? 'Bulwark did not answer. Check your connection and start again.' : callbackErrorText(failure)}
      </Alert>
      {code && failure !== 'missing' && failure !== 'network' && (
        <p class="hint">
          Reason given: <code>{code}</code>
        </p>
      )}
      <div class="actions">
        <button type="button" onClick={() => navigate('/', true)}>
          Back to sign in
        </button>
      </div>
    </Screen>
  );
}
