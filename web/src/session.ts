// Who is signed in, and which gate (API.md: a forced password change, a required MFA
// enrolment) stands between them and the app. One probe finds the gate: GET /v1/policy is
// behind both, so its 403 code names the one in force.
import * as api from './api';
import { ApiError } from './api';
import type { PasswordPolicy } from './lib/policy';

export interface Me {
  user_id: string;
  tenant: string;
  email: string;
  display_name: string;
  role: string;
  privileges: string[];
  mfa_enabled: boolean;
  password_change_required: boolean;
}

export interface Policy {
  password: PasswordPolicy;
  lockout: { max_attempts: number; duration_minutes: number };
  session_idle_timeout_hours: number;
  app_passcode: { required: boolean; min_digits: number; timeout_minutes: number };
  mfa_required: boolean;
  sso_required?: boolean;
  message_retention_days?: number | null;
}

export type Gate = null | 'password' | 'mfa';

export interface Session {
  me: Me;
  gate: Gate;
  policy: Policy | null;
}

export async function loadSession(): Promise<Session> {
  const me = await api.call<Me>('GET', '/v1/me');
  if (me.password_change_required) return { me, gate: 'password', policy: null };
  try {
    const policy = await api.call<Policy>('GET', '/v1/policy', undefined, { probe: true });
    return { me, gate: null, policy };
  } catch (e) {
    if (e instanceof ApiError && e.code === 'password_change_required') return { me, gate: 'password', policy: null };
    if (e instanceof ApiError && e.code === 'mfa_enrollment_required') return { me, gate: 'mfa', policy: null };
    throw e;
  }
}

export const can = (me: Me, privilege: string) => me.privileges.includes(privilege);
