// The password policy as the person types (API.md: 8..128 characters, an upper-case and a
// lower-case letter, a digit or special character). The server has the last word: it also
// refuses common passwords ("not_common"), which only it can judge.

export interface PasswordPolicy {
  min_length: number;
  max_length: number;
  require_upper: boolean;
  require_lower: boolean;
  require_digit_or_special: boolean;
}

export const DEFAULT_POLICY: PasswordPolicy = {
  min_length: 8,
  max_length: 128,
  require_upper: true,
  require_lower: true,
  require_digit_or_special: true,
};

export interface Rule {
  id: string;
  label: string;
  ok: boolean;
}

const RULE_TEXT: Record<string, string> = {
  min_length: 'at least {min} characters',
  max_length: 'at most {max} characters',
  require_upper: 'an upper-case letter',
  require_lower: 'a lower-case letter',
  require_digit_or_special: 'a digit or a special character',
  not_common: 'not a common or easily guessed password',
};

function text(id: string, p: PasswordPolicy): string {
  return (RULE_TEXT[id] ?? id).replace('{min}', String(p.min_length)).replace('{max}', String(p.max_length));
}

/** Each rule of the policy and whether `password` meets it, in the policy's order. */
export function checkPassword(password: string, p: PasswordPolicy = DEFAULT_POLICY): Rule[] {
  const chars = [...password];
  const rules: Rule[] = [
    { id: 'min_length', label: text('min_length', p), ok: chars.length >= p.min_length },
    { id: 'max_length', label: text('max_length', p), ok: chars.length <= p.max_length },
  ];
  if (p.require_upper) rules.push({ id: 'require_upper', label: text('require_upper', p), ok: chars.some((c) => c !== c.toLowerCase()) });
  if (p.require_lower) rules.push({ id: 'require_lower', label: text('require_lower', p), ok: chars.some((c) => c !== c.toUpperCase()) });
  if (p.require_digit_or_special)
    rules.push({
      id: 'require_digit_or_special',
      label: text('require_digit_or_special', p),
      ok: chars.some((c) => /[0-9]/.test(c) || !/[\p{L}\p{N}]/u.test(c)),
    });
  return rules;
}

/** The server's `error.details.failed` in words. */
export function describeFailed(failed: string[], p: PasswordPolicy = DEFAULT_POLICY): string {
  return failed.map((id) => text(id, p)).join('; ');
}
