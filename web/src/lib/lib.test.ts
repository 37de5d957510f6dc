import { describe, expect, it } from 'vitest';

import { bytes, duration, fromLocalInput } from './format';
import { checkPassword, describeFailed } from './policy';
import { match } from './router';
import { policyErrors } from '../screens/admin';
import { eventErrors } from '../screens/events';

describe('password policy feedback', () => {
  it('lists each rule and whether it is met', () => {
    const failing = checkPassword('short').filter((r) => !r.ok).map((r) => r.id);
    expect(failing).toEqual(['min_length', 'require_upper', 'require_digit_or_special']);
    expect(checkPassword('Correct-Horse-9').every((r) => r.ok)).toBe(true);
  });
  it('counts characters, not UTF-16 units, and knows non-Latin letters', () => {
    expect(checkPassword('Ééééééé1').find((r) => r.id === 'min_length')!.ok).toBe(true);
    expect(checkPassword('x'.repeat(129)).find((r) => r.id === 'max_length')!.ok).toBe(false);
    expect(checkPassword('abcdefgh!').find((r) => r.id === 'require_digit_or_special')!.ok).toBe(true);
  });
  it("words the server's failed rules", () => {
    expect(describeFailed(['not_common', 'min_length'])).toBe('not a common or easily guessed password; at least 8 characters');
  });
});

describe('formatting', () => {
  it('shows a lockout time left', () => {
    expect(duration(900)).toBe('15 min');
    expect(duration(899.2)).toBe('15 min');
    expect(duration(61)).toBe('1 min 1 s');
    expect(duration(0)).toBe('0 s');
    expect(duration(3725)).toBe('1 h 2 min');
  });
  it('shows sizes', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(3 * 1024 * 1024)).toBe('3.0 MB');
  });
  it('turns a local date-time input into RFC 3339 UTC', () => {
    expect(fromLocalInput('2030-01-02T03:04')).toMatch(/^2030-01-0[12]T\d\d:04:00Z$/);
  });
});

describe('routes', () => {
  it('matches parameters', () => {
    expect(match('/messages/:id', '/messages/abc')).toEqual({ id: 'abc' });
    expect(match('/messages/:id', '/messages')).toBeNull();
    expect(match('/admin/users', '/admin/users/')).toEqual({});
  });
});

describe('policy form validation', () => {
  it('wants 1..15 minutes and 1..3650 days or nothing', () => {
    expect(policyErrors('5', '')).toEqual({});
    expect(Object.keys(policyErrors('30', ''))).toEqual(['timeout']);
    expect(Object.keys(policyErrors('0', '4000'))).toEqual(['timeout', 'retention']);
    expect(Object.keys(policyErrors('2.5', 'abc'))).toEqual(['timeout', 'retention']);
  });
});

describe('event form validation', () => {
  it('wants a title and an end after the start', () => {
    expect(eventErrors('Congress', '2030-01-01T09:00', '2030-01-01T17:00', '')).toEqual({});
    expect(Object.keys(eventErrors('', '2030-01-01T09:00', '2030-01-01T08:00', '0'))).toEqual(['title', 'ends', 'capacity']);
  });
});
