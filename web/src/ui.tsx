// The app's handful of building blocks: a screen with its focused heading, labelled fields,
// alerts that screen readers announce, links that navigate without reloading, an inline
// confirmation step, the QR code. Styling is plain CSS (style.css); no inline styles, which
// the Content-Security-Policy forbids.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { encode } from 'uqr';

import { ApiError } from './api';
import { duration } from './lib/format';
import { describeFailed } from './lib/policy';
import { navigate } from './lib/router';

/** The page load's first screen leaves focus at the document's start (the skip link first). */
let firstScreen = true;

export function Screen(props: { title: string; children: ComponentChildren; narrow?: boolean }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} · Bulwark`;
    if (firstScreen) firstScreen = false;
    else heading.current?.focus();
  }, [props.title]);
  return (
    <main id="main" class={props.narrow ? 'screen narrow' : 'screen'}>
      <h1 tabIndex={-1} ref={heading}>
        {props.title}
      </h1>
      {props.children}
    </main>
  );
}

export function Link(props: JSX.AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const { href, children, ...rest } = props;
  return (
    <a
      {...rest}
      href={href}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}

type FieldProps = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, 'onInput' | 'value' | 'label'> & {
  label: string;
  value: string;
  onValue: (v: string) => void;
  hint?: ComponentChildren;
  error?: string | null;
};

let nextId = 0;
function useId(prefix: string): string {
  const ref = useRef<string>();
  if (!ref.current) ref.current = `${prefix}-${++nextId}`;
  return ref.current;
}

export function Field(props: FieldProps) {
  const { label, value, onValue, hint, error, id, ...rest } = props;
  const own = useId('f');
  const fid = (id as string) || own;
  const described = [hint ? `${fid}-hint` : '', error ? `${fid}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={fid}>{label}</label>
      {hint && (
        <div class="hint" id={`${fid}-hint`}>
          {hint}
        </div>
      )}
      <input
        {...rest}
        id={fid}
        value={value}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={described}
        onInput={(e) => onValue((e.currentTarget as HTMLInputElement).value)}
      />
      {error && (
        <div class="field-error" id={`${fid}-err`}>
          {error}
        </div>
      )}
    </div>
  );
}

/** A labelled multi-line field, with its hint and error like `Field`. */
export function TextArea(props: {
  label: string;
  value: string;
  onValue: (v: string) => void;
  hint?: ComponentChildren;
  error?: string | null;
  rows?: number;
  id?: string;
  mono?: boolean;
}) {
  const own = useId('t');
  const fid = props.id || own;
  const described = [props.hint ? `${fid}-hint` : '', props.error ? `${fid}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={fid}>{props.label}</label>
      {props.hint && (
        <div class="hint" id={`${fid}-hint`}>
          {props.hint}
        </div>
      )}
      <textarea
        id={fid}
        rows={props.rows ?? 3}
        class={props.mono ? 'mono' : undefined}
        value={props.value}
        spellcheck={false}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={described}
        onInput={(e) => props.onValue((e.currentTarget as HTMLTextAreaElement).value)}
      />
      {props.error && (
        <div class="field-error" id={`${fid}-err`}>
          {props.error}
        </div>
      )}
    </div>
  );
}

/** A value someone must copy elsewhere (into an IdP's console), with a copy button. */
export function CopyValue(props: { label: string; value: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
      setState('copied');
    } catch {
      setState('failed');
    }
  };
  return (
    <div class="copy-value">
      <dt>{props.label}</dt>
      <dd>
        <code>{props.value}</code>{' '}
        <button type="button" class="secondary small" onClick={() => void copy()} aria-label={`Copy the ${props.label}`}>
          Copy
        </button>
        <span class="hint" role="status">
          {state === 'copied' ? 'Copied.' : state === 'failed' ? 'Could not copy: select the text instead.' : ''}
        </span>
      </dd>
    </div>
  );
}

/** The password a person already has (sign-in and every re-authentication). */
export function CurrentPassword(props: { label: string; value: string; onValue: (v: string) => void; required?: boolean }) {
  return <Field type="password" autoComplete="current-password" {...props} />;
}

export function Select(props: {
  label: string;
  value: string;
  onValue: (v: string) => void;
  options: [string, string][];
  id?: string;
}) {
  const own = useId('s');
  const fid = props.id || own;
  return (
    <div class="field">
      <label for={fid}>{props.label}</label>
      <select id={fid} value={props.value} onChange={(e) => props.onValue((e.currentTarget as HTMLSelectElement).value)}>
        {props.options.map(([v, l]) => (
          <option value={v} key={v}>
            {l}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Alert(props: { kind?: 'error' | 'info' | 'success'; children: ComponentChildren }) {
  const kind = props.kind ?? 'error';
  return (
    <div class={`alert ${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {props.children}
    </div>
  );
}

/** What a person should read for an API error. */
export function errorText(e: unknown): string {
  if (!(e instanceof ApiError)) return 'Something went wrong. Check your connection and try again.';
  switch (e.code) {
    case 'invalid_credentials':
      return 'Those details are not right. Check them and try again.';
    case 'account_locked':
      return `Too many failed attempts: this account is locked. Try again in ${duration(e.retryAfter ?? 900)}.`;
    case 'rate_limited':
      return `Too many requests. Try again in ${duration(e.retryAfter ?? 60)}.`;
    case 'password_policy':
      return `The password does not meet the policy: ${describeFailed(e.details?.failed ?? [])}.`;
    case 'forbidden':
      return 'Your role does not allow this.';
    case 'sso_required':
      return 'Your organisation requires single sign-on: use "Sign in with single sign-on" instead of a password.';
    case 'session_expired':
    case 'unauthorized':
      return 'Your session has ended. Sign in again.';
    case 'unavailable':
      return 'The service is busy; nothing was changed. Try again shortly.';
    default:
      return e.message;
  }
}

/** A form's submit state: busy while the action runs, its error (if any) shown above it. */
export function useSubmit<T>(action: () => Promise<T>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e?: Event) => {
    e?.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, submit };
}

export function ErrorAlert(props: { error: unknown }) {
  if (!props.error) return null;
  return <Alert>{errorText(props.error)}</Alert>;
}

/** A button that asks once more before a consequential action. */
export function ConfirmButton(props: {
  label: string;
  question: string;
  confirmLabel?: string;
  onConfirm: () => Promise<void> | void;
  danger?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const openRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
  }, [asking]);
  if (!asking)
    return (
      <button type="button" ref={openRef} class={props.danger ? 'danger' : 'secondary'} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  return (
    <span class="confirm" role="group" aria-label={props.question}>
      <span class="confirm-q">{props.question}</span>
      <button
        type="button"
        ref={confirmRef}
        class={props.danger ? 'danger' : ''}
        onClick={async () => {
          setAsking(false);
          await props.onConfirm();
        }}
      >
        {props.confirmLabel ?? 'Confirm'}
      </button>
      <button type="button" class="secondary" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** The otpauth URI as a QR code: an SVG of the module grid, drawn as one path. */
export function Qr(props: { text: string; label: string }) {
  const { data, size } = encode(props.text, { ecc: 'M', border: 2 });
  let d = '';
  data.forEach((row, y) =>
    row.forEach((on, x) => {
      if (on) d += `M${x} ${y}h1v1h-1z`;
    }),
  );
  return (
    <svg class="qr" viewBox={`0 0 ${size} ${size}`} role="img" aria-label={props.label} shape-rendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}

/** Saves text as a file the person downloads (recovery codes). */
export function saveText(name: string, text: string): void {
  saveBlob(name, new Blob([text], { type: 'text/plain;charset=utf-8' }));
}

export function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
