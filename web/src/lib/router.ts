// A small history router: the path picks the screen, links and code navigate without reloads,
// and after each navigation focus moves to the new screen's heading (screen readers announce
// it, keyboard users start from the top).
import { useEffect, useState } from 'preact/hooks';

type Listener = () => void;
const listeners = new Set<Listener>();

let visits = 0;

/** Counts navigations: a screen keyed by it loads afresh when its link is followed again. */
export function visitCount(): number {
  return visits;
}

export function navigate(to: string, replace = false): void {
  visits++;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  listeners.forEach((l) => l());
}

if (typeof window !== 'undefined') window.addEventListener('popstate', () => listeners.forEach((l) => l()));

export interface Location {
  path: string;
  query: URLSearchParams;
}

export function useLocation(): Location {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((t) => t + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** `pattern` like "/messages/:id" against `path`: the parameters, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

const tokens = new Map<string, string>();

/**
 * Reads a single-use token (invitation, reset, recovery link) from the URL and takes it out of
 * the address bar and history; it is kept in memory only, like every other token.
 */
export function takeToken(): string {
  const q = new URLSearchParams(location.search);
  const token = q.get('token') ?? '';
  if (token) {
    q.delete('token');
    const rest = q.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : ''));
    tokens.set(location.pathname, token);
  }
  return token || tokens.get(location.pathname) || '';
}
