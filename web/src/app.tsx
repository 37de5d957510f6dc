// The shell: restores a session from the refresh cookie at start, routes each path to its
// screen, keeps the gates (forced password change, required MFA enrolment) in front of the
// app, hides what the role may not use (the API refuses it anyway), and returns to sign-in
// whenever the session ends — logout, idle timeout, or a remote wipe by an administrator.
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import * as api from './api';
import { match, navigate, useLocation, visitCount } from './lib/router';
import { type Session, can, loadSession } from './session';
import { Link, Screen } from './ui';
import { ChangePassword, Profile, Security } from './screens/account';
import { Audit, Integrations, PolicyEditor, SingleSignOn, Users } from './screens/admin';
import { AcceptInvitation, Forgot, RecoverConfirm, RecoverStart, ResetPassword, SignIn, SsoCallback } from './screens/auth';
import { EventDetail, EventForm, EventList } from './screens/events';
import { ConversationList, ConversationView } from './screens/messages';

/** Screens reachable without a session (email links among them). */
const PUBLIC = ['/forgot', '/reset-password', '/invite', '/recover', '/recover-mfa', '/sso/callback'];

function Nav(props: { session: Session }) {
  const { me, gate } = props.session;
  const { path } = useLocation();
  const item = (href: string, label: string) => (
    <li>
      <Link href={href} aria-current={path === href || path.startsWith(`${href}/`) ? 'page' : undefined}>
        {label}
      </Link>
    </li>
  );
  return (
    <nav aria-label="Main">
      <ul>
        {!gate && can(me, 'app.use') && item('/messages', 'Messages')}
        {!gate && can(me, 'app.use') && item('/events', 'Events')}
        {!gate && can(me, 'users.manage') && item('/admin/users', 'Users')}
        {!gate && can(me, 'policy.manage') && item('/admin/policy', 'Policy')}
        {!gate && can(me, 'audit.read') && item('/admin/audit', 'Audit log')}
        {!gate && can(me, 'integrations.manage') && item('/admin/integrations', 'Integrations')}
        {!gate && can(me, 'integrations.manage') && item('/admin/sso', 'Single sign-on')}
        {gate !== 'password' && item('/security', 'Security')}
        {!gate && item('/account', 'Account')}
        <li>
          <button type="button" class="link-button" onClick={() => void api.logout()}>
            Sign out
          </button>
        </li>
      </ul>
    </nav>
  );
}

function home(s: Session): string {
  if (s.gate === 'password') return '/change-password';
  if (s.gate === 'mfa') return '/security';
  if (can(s.me, 'app.use')) return '/messages';
  if (can(s.me, 'audit.read')) return '/admin/audit';
  return '/account';
}

function NotFound() {
  return (
    <Screen title="Page not found">
      <p>
        There is nothing here. <Link href="/">Go to the start</Link>.
      </p>
    </Screen>
  );
}

function Forbidden() {
  return (
    <Screen title="Not available">
      <p>Your role does not include this part of Bulwark.</p>
    </Screen>
  );
}

type SignedInProps = { session: Session; reload: () => Promise<void>; next: string | null; takeNext: () => void };

function SignedIn(props: SignedInProps) {
  // Following a link to the screen already shown loads it afresh (e.g. the user list).
  useLocation();
  return (
    <Fragment key={visitCount()}>
      <SignedInScreen {...props} />
    </Fragment>
  );
}

function SignedInScreen(props: SignedInProps) {
  const { session, reload } = props;
  const { me, gate } = session;
  const { path } = useLocation();

  useEffect(() => {
    if (props.next) {
      const to = props.next;
      props.takeNext();
      if (!gate) return navigate(to, true);
    }
    if (gate === 'password' && path !== '/change-password') navigate('/change-password', true);
    else if (gate === 'mfa' && path !== '/security') navigate('/security', true);
    else if (path === '/' || PUBLIC.includes(path)) navigate(home(session), true);
  }, [gate, path]);

  if (gate === 'password') return <ChangePassword forced onChanged={() => void reload().then(() => navigate('/', true))} />;
  if (gate === 'mfa') return <Security me={me} enrolmentRequired onChanged={() => void reload()} />;

  const guard = (privilege: string, screen: () => preact.JSX.Element) => (can(me, privilege) ? screen() : <Forbidden />);
  let p: Record<string, string> | null;
  if (path === '/messages') return guard('app.use', () => <ConversationList me={me} />);
  if ((p = match('/messages/:id', path))) {
    const id = p.id;
    return guard('app.use', () => <ConversationView me={me} id={id} key={id} />);
  }
  if (path === '/events') return guard('app.use', () => <EventList me={me} />);
  if (path === '/events/new') return guard('events.manage', () => <EventForm />);
  if ((p = match('/events/:id', path))) {
    const id = p.id;
    return guard('app.use', () => <EventDetail me={me} id={id} key={id} />);
  }
  if (path === '/admin/users') return guard('users.manage', () => <Users me={me} />);
  if (path === '/admin/policy') return guard('policy.manage', () => <PolicyEditor />);
  if (path === '/admin/audit') return guard('audit.read', () => <Audit />);
  if (path === '/admin/integrations') return guard('integrations.manage', () => <Integrations />);
  if (path === '/admin/sso') return guard('integrations.manage', () => <SingleSignOn tenant={me.tenant} />);
  if (path === '/security') return <Security me={me} enrolmentRequired={false} onChanged={() => void reload()} />;
  if (path === '/change-password') return <ChangePassword forced={false} onChanged={() => void reload()} />;
  if (path === '/account') return <Profile me={me} />;
  if (path === '/' || PUBLIC.includes(path)) return <p role="status">Loading…</p>;
  return <NotFound />;
}

function SignedOut(props: { onSignedIn: (t: api.TokenAnswer, next?: string) => void; notice: string | null }) {
  const { path } = useLocation();
  useEffect(() => {
    if (path !== '/' && !PUBLIC.includes(path)) navigate('/', true);
  }, [path]);
  switch (path) {
    case '/forgot':
      return <Forgot />;
    case '/reset-password':
      return <ResetPassword />;
    case '/invite':
      return <AcceptInvitation />;
    case '/recover':
      return <RecoverStart />;
    case '/recover-mfa':
      return <RecoverConfirm onSignedIn={props.onSignedIn} />;
    case '/sso/callback':
      return <SsoCallback onSignedIn={props.onSignedIn} />;
    default:
      return <SignIn onSignedIn={props.onSignedIn} notice={props.notice} />;
  }
}

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined); // undefined: starting
  const [notice, setNotice] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);

  const reload = async () => {
    try {
      setSession(await loadSession());
    } catch (e) {
      if (e instanceof api.ApiError && e.status === 401) setSession(null);
      else setFailed(true);
    }
  };

  useEffect(() => {
    // The route that answered knows best: each route (each Lambda) caches the tenant policy
    // for a while, so a fresh probe of GET /v1/policy may not see the change yet.
    api.onGate((code) =>
      setSession((s) => s && { ...s, gate: code === 'password_change_required' ? 'password' : 'mfa' }),
    );
    api.onSignedOut((reason) => {
      setSession(null);
      setNotice(reason === 'expired' ? 'Your session has ended. Sign in again.' : 'You are signed out.');
      navigate('/', true);
    });
    // A reload or a new tab: the refresh cookie (if any) brings the session back.
    const path = location.pathname;
    const start = PUBLIC.includes(path) && path !== '/recover' && path !== '/forgot' ? Promise.resolve(false) : api.refresh();
    start.then((ok) => (ok ? reload() : setSession(null)), () => setSession(null));
  }, []);

  // Where a sign-in asked to go next (MFA recovery: straight to enrolment); taken by the
  // signed-in shell once it is mounted, so the signed-out screens' redirects cannot undo it.
  const [next, setNext] = useState<string | null>(null);
  const onSignedIn = (_: api.TokenAnswer, then?: string) => {
    setNotice(null);
    setNext(then ?? null);
    void reload();
  };

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">
          <img src="/favicon.svg" alt="" width={24} height={24} /> Bulwark
        </span>
        {session && <Nav session={session} />}
      </header>
      {failed ? (
        <Screen title="Bulwark is not reachable">
          <p>The service did not answer. Check your connection and reload the page.</p>
        </Screen>
      ) : session === undefined ? (
        <main id="main" class="screen">
          <p role="status">Loading…</p>
        </main>
      ) : session === null ? (
        <SignedOut onSignedIn={onSignedIn} notice={notice} />
      ) : (
        <SignedIn session={session} reload={reload} next={next} takeNext={() => setNext(null)} />
      )}
    </>
  );
}
