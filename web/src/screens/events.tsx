// Events: the attendee's view (list, detail with agenda, registration and the waitlist,
// announcements) and, for organizers, the CMS on the same screens (create and edit, publish,
// cancel, agenda sessions, the registrations list, announcements).
import { useEffect, useState } from 'preact/hooks';

import * as api from '../api';
import { dateTime, fromLocalInput, toLocalInput } from '../lib/format';
import { navigate } from '../lib/router';
import { can, type Me } from '../session';
import { Alert, ConfirmButton, ErrorAlert, Field, Link, Screen, useSubmit } from '../ui';

export interface EventView {
  event_id: string;
  title: string;
  description: string | null;
  starts_at: string;
  ends_at: string;
  timezone: string;
  location: string | null;
  capacity: number | null;
  status: 'draft' | 'published' | 'cancelled';
  registration: null | 'registered' | 'waitlisted';
  registered_count: number;
  waitlist_count: number;
}

interface AgendaSession {
  session_id: string;
  title: string;
  starts_at: string;
  ends_at: string;
  room: string | null;
  speaker_ids: string[];
  live: boolean;
}

const STATUS: Record<string, string> = { draft: 'Draft', published: 'Published', cancelled: 'Cancelled' };

export function EventList(props: { me: Me }) {
  const organizer = can(props.me, 'events.manage');
  const [events, setEvents] = useState<EventView[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = async (from?: string) => {
    try {
      const q = from ? `&cursor=${encodeURIComponent(from)}` : '';
      const r = await api.call<{ events: EventView[]; next_cursor: string | null }>('GET', `/v1/events?limit=50${q}`);
      setEvents((old) => (from ? [...(old ?? []), ...r.events] : r.events));
      setCursor(r.next_cursor);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => void load(), []);
  return (
    <Screen title="Events">
      {organizer && (
        <div class="toolbar">
          <Link href="/events/new" class="button-link">
            New event
          </Link>
        </div>
      )}
      <ErrorAlert error={error} />
      {events === null ? (
        <p role="status">Loading…</p>
      ) : events.length === 0 ? (
        <p>No events yet.</p>
      ) : (
        <ul class="list" aria-label="Events">
          {events.map((e) => (
            <li key={e.event_id}>
              <Link href={`/events/${e.event_id}`} class="row-link">
                <span class="row-title">{e.title}</span>
                <span class="row-meta">
                  {dateTime(e.starts_at)}
                  {e.status !== 'published' && <span class="tag">{STATUS[e.status]}</span>}
                  {e.registration && <span class="tag ok">{e.registration === 'registered' ? 'Registered' : 'Waitlisted'}</span>}
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" class="secondary" onClick={() => load(cursor)}>
          Show more events
        </button>
      )}
    </Screen>
  );
}

/** Event form validation before the server's: a title, and an end after the start. */
export function eventErrors(title: string, starts: string, ends: string, capacity: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!title.trim()) out.title = 'Enter a title.';
  if (!starts) out.starts = 'Enter the start.';
  if (!ends) out.ends = 'Enter the end.';
  else if (starts && new Date(ends) <= new Date(starts)) out.ends = 'The end must be after the start.';
  if (capacity.trim() && !(/^\d+$/.test(capacity.trim()) && Number(capacity) >= 1)) out.capacity = 'Enter a whole number of at least 1, or leave it empty.';
  return out;
}

export function EventForm(props: { existing?: EventView; onSaved?: (e: EventView) => void }) {
  const ex = props.existing;
  const [title, setTitle] = useState(ex?.title ?? '');
  const [description, setDescription] = useState(ex?.description ?? '');
  const [starts, setStarts] = useState(ex ? toLocalInput(ex.starts_at) : '');
  const [ends, setEnds] = useState(ex ? toLocalInput(ex.ends_at) : '');
  const [location, setLocation] = useState(ex?.location ?? '');
  const [capacity, setCapacity] = useState(ex?.capacity ? String(ex.capacity) : '');
  const [touched, setTouched] = useState(false);
  const errors = eventErrors(title, starts, ends, capacity);
  const form = useSubmit(async () => {
    setTouched(true);
    if (Object.keys(errors).length) return;
    const body: Record<string, unknown> = {
      title: title.trim(),
      starts_at: fromLocalInput(starts),
      ends_at: fromLocalInput(ends),
      timezone: ex?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC',
    };
    if (description.trim()) body.description = description.trim();
    if (location.trim()) body.location = location.trim();
    if (capacity.trim()) body.capacity = Number(capacity);
    if (ex) {
      props.onSaved?.(await api.call<EventView>('PATCH', `/v1/events/${ex.event_id}`, body));
    } else {
      const r = await api.call<{ event_id: string }>('POST', '/v1/events', body);
      navigate(`/events/${r.event_id}`);
    }
  });
  const err = (k: string) => (touched ? (errors[k] ?? null) : null);
  const form_ = (
    <form class="panel" onSubmit={form.submit} novalidate aria-labelledby="event-form-h">
      <h2 id="event-form-h">{ex ? 'Edit the event' : 'The event'}</h2>
      <ErrorAlert error={form.error} />
      <Field label="Title" value={title} onValue={setTitle} maxLength={200} required error={err('title')} />
      <div class="field">
        <label for="ev-desc">Description (optional)</label>
        <textarea id="ev-desc" rows={4} maxLength={5000} value={description} onInput={(e) => setDescription((e.currentTarget as HTMLTextAreaElement).value)} />
      </div>
      <div class="row">
        <Field label="Starts" type="datetime-local" value={starts} onValue={setStarts} required error={err('starts')} />
        <Field label="Ends" type="datetime-local" value={ends} onValue={setEnds} required error={err('ends')} />
      </div>
      <div class="row">
        <Field label="Location (optional)" value={location} onValue={setLocation} maxLength={200} />
        <Field label="Capacity (optional)" inputMode="numeric" value={capacity} onValue={setCapacity} error={err('capacity')} />
      </div>
      <div class="actions">
        <button type="submit" disabled={form.busy}>
          {ex ? 'Save the event' : 'Create the draft'}
        </button>
      </div>
    </form>
  );
  if (ex) return form_;
  return <Screen title="New event">{form_}</Screen>;
}

/**
 * A live session's pass: the Agora RTC token the API issues to speakers, organizers and
 * registered attendees. The stream itself plays in the mobile apps (the web app ships no
 * Agora SDK); here the person sees whether they may join and until when.
 */
function LivePass(props: { eventId: string; session: AgendaSession }) {
  const [pass, setPass] = useState<{ role: string; expires_at: string } | null>(null);
  const get = useSubmit(async () => {
    setPass(await api.call('POST', `/v1/events/${props.eventId}/sessions/${props.session.session_id}/rtc-token`));
  });
  return (
    <span class="live-pass">
      {pass ? (
        <span role="status">
          You may join as {pass.role === 'publisher' ? 'a speaker' : 'a viewer'} until {dateTime(pass.expires_at)}; open
          the session in the Bulwark mobile app.
        </span>
      ) : (
        <button type="button" class="secondary small" onClick={get.submit} disabled={get.busy}>
          Get my live pass <span class="sr-only">for {props.session.title}</span>
        </button>
      )}
      <ErrorAlert error={get.error} />
    </span>
  );
}

function SessionForm(props: { event: EventView; onAdded: () => void }) {
  const [title, setTitle] = useState('');
  const [starts, setStarts] = useState(toLocalInput(props.event.starts_at));
  const [ends, setEnds] = useState(toLocalInput(props.event.starts_at));
  const [room, setRoom] = useState('');
  const [live, setLive] = useState(false);
  const form = useSubmit(async () => {
    const body: Record<string, unknown> = { title: title.trim(), starts_at: fromLocalInput(starts), ends_at: fromLocalInput(ends), live };
    if (room.trim()) body.room = room.trim();
    await api.call('POST', `/v1/events/${props.event.event_id}/sessions`, body);
    setTitle('');
    setRoom('');
    props.onAdded();
  });
  return (
    <form onSubmit={form.submit} novalidate aria-labelledby="session-form-h">
      <h3 id="session-form-h">Add a session</h3>
      <ErrorAlert error={form.error} />
      <Field label="Session title" value={title} onValue={setTitle} maxLength={200} required />
      <div class="row">
        <Field label="Session starts" type="datetime-local" value={starts} onValue={setStarts} required />
        <Field label="Session ends" type="datetime-local" value={ends} onValue={setEnds} required />
      </div>
      <Field label="Room (optional)" value={room} onValue={setRoom} maxLength={100} />
      <div class="check">
        <input type="checkbox" id="sess-live" checked={live} onChange={(e) => setLive((e.currentTarget as HTMLInputElement).checked)} />
        <label for="sess-live">Streamed live</label>
      </div>
      <div class="actions">
        <button type="submit" disabled={form.busy || !title.trim()}>
          Add the session
        </button>
      </div>
    </form>
  );
}

function Announcements(props: { event: EventView; organizer: boolean }) {
  const { event } = props;
  const [items, setItems] = useState<{ announcement_id: string; title: string; body: string; created_at?: string | null }[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const allowed = props.organizer || event.registration === 'registered';
  const load = async () => {
    if (!allowed) return;
    try {
      setItems((await api.call<{ announcements: NonNullable<typeof items> }>('GET', `/v1/events/${event.event_id}/announcements?limit=50`)).announcements);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => void load(), [event.event_id, event.registration]);
  const form = useSubmit(async () => {
    await api.call('POST', `/v1/events/${event.event_id}/announcements`, { title: title.trim(), body: body.trim() });
    setTitle('');
    setBody('');
    await load();
  });
  if (!allowed) return null;
  return (
    <section class="panel" aria-labelledby="ann-h">
      <h2 id="ann-h">Announcements</h2>
      <ErrorAlert error={error} />
      {items && items.length === 0 && <p>No announcements yet.</p>}
      {items && items.length > 0 && (
        <ul class="plain">
          {items.map((a) => (
            <li key={a.announcement_id}>
              <h3>{a.title}</h3>
              {a.created_at && <p class="hint">{dateTime(a.created_at)}</p>}
              <p class="msg-body">{a.body}</p>
            </li>
          ))}
        </ul>
      )}
      {props.organizer && (
        <form onSubmit={form.submit} novalidate aria-labelledby="ann-form-h">
          <h3 id="ann-form-h">Send an announcement</h3>
          <p class="hint">Registered attendees get a push notification.</p>
          <ErrorAlert error={form.error} />
          <Field label="Announcement title" value={title} onValue={setTitle} maxLength={200} required />
          <div class="field">
            <label for="ann-body">Announcement text</label>
            <textarea id="ann-body" rows={3} maxLength={10000} value={body} onInput={(e) => setBody((e.currentTarget as HTMLTextAreaElement).value)} />
          </div>
          <div class="actions">
            <button type="submit" disabled={form.busy || !title.trim() || !body.trim()}>
              Send the announcement
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function Registrations(props: { event: EventView; version: number }) {
  const [rows, setRows] = useState<{ user_id: string; display_name: string | null; status: string; registered_at: string | null }[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = async (from?: string) => {
    try {
      const q = from ? `&cursor=${encodeURIComponent(from)}` : '';
      const r = await api.call<{ registrations: typeof rows; next_cursor: string | null }>(
        'GET',
        `/v1/events/${props.event.event_id}/registrations?limit=50${q}`,
      );
      setRows((old) => (from ? [...old, ...r.registrations] : r.registrations));
      setCursor(r.next_cursor);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => void load(), [props.version]);
  return (
    <section class="panel" aria-labelledby="reg-h">
      <h2 id="reg-h">Registrations</h2>
      <ErrorAlert error={error} />
      {rows.length === 0 ? (
        <p>Nobody has registered yet.</p>
      ) : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Registrations">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Since</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.user_id}>
                  <td>{r.display_name ?? r.user_id}</td>
                  <td>{r.status === 'registered' ? 'Registered' : 'Waitlisted'}</td>
                  <td>{dateTime(r.registered_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" class="secondary" onClick={() => load(cursor)}>
          Show more
        </button>
      )}
    </section>
  );
}

export function EventDetail(props: { me: Me; id: string }) {
  const organizer = can(props.me, 'events.manage');
  const [event, setEvent] = useState<EventView | null>(null);
  const [sessions, setSessions] = useState<AgendaSession[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  const [editing, setEditing] = useState(false);
  const [version, setVersion] = useState(0);
  const id = props.id;
  const load = async () => {
    try {
      const [e, s] = await Promise.all([
        api.call<EventView>('GET', `/v1/events/${id}`),
        api.call<{ sessions: AgendaSession[] }>('GET', `/v1/events/${id}/sessions?limit=100`),
      ]);
      setEvent(e);
      setSessions(s.sessions);
      setVersion((v) => v + 1);
    } catch (e) {
      if (e instanceof api.ApiError && e.status === 404) setMissing(true);
      else setError(e);
    }
  };
  useEffect(() => void load(), [id]);
  const act = (message: string | null, fn: () => Promise<unknown>) => async () => {
    try {
      await fn();
      setError(null);
      setNotice(message);
      await load();
    } catch (e) {
      setNotice(null);
      setError(e);
    }
  };
  if (missing)
    return (
      <Screen title="Event not found">
        <p>
          <Link href="/events">Back to events</Link>
        </p>
      </Screen>
    );
  if (!event)
    return (
      <Screen title="Event">
        <ErrorAlert error={error} />
        <p role="status">Loading…</p>
      </Screen>
    );
  const full = event.capacity !== null && event.registered_count >= event.capacity;
  return (
    <Screen title={event.title}>
      <p class="hint">
        <Link href="/events">← All events</Link>
      </p>
      {notice && <Alert kind="success">{notice}</Alert>}
      <ErrorAlert error={error} />
      {event.status === 'cancelled' && <Alert kind="info">This event is cancelled.</Alert>}
      <dl class="facts panel">
        <dt>When</dt>
        <dd>
          {dateTime(event.starts_at)} – {dateTime(event.ends_at)} <span class="hint">({event.timezone})</span>
        </dd>
        {event.location && (
          <>
            <dt>Where</dt>
            <dd>{event.location}</dd>
          </>
        )}
        <dt>Places</dt>
        <dd>
          {event.registered_count} registered{event.capacity !== null ? ` of ${event.capacity}` : ''}
          {event.waitlist_count > 0 ? `, ${event.waitlist_count} on the waiting list` : ''}
        </dd>
        {organizer && (
          <>
            <dt>Status</dt>
            <dd>{STATUS[event.status]}</dd>
          </>
        )}
        {event.description && (
          <>
            <dt>About</dt>
            <dd class="msg-body">{event.description}</dd>
          </>
        )}
      </dl>

      {event.status === 'published' && (
        <div class="actions" role="group" aria-label="Your registration" aria-live="polite">
          {event.registration === null ? (
            <button type="button" onClick={act(null, () => api.call('POST', `/v1/events/${id}/registration`))}>
              {full ? 'Join the waiting list' : 'Register'}
            </button>
          ) : (
            <>
              <span>{event.registration === 'registered' ? 'You are registered.' : 'You are on the waiting list.'}</span>
              <ConfirmButton
                label={event.registration === 'registered' ? 'Cancel my registration' : 'Leave the waiting list'}
                question="Give up your place?"
                confirmLabel="Give it up"
                danger
                onConfirm={act(null, () => api.call('DELETE', `/v1/events/${id}/registration`))}
              />
            </>
          )}
        </div>
      )}

      {organizer && event.status !== 'cancelled' && (
        <div class="actions" role="group" aria-label="Manage the event">
          {event.status === 'draft' && (
            <button type="button" onClick={act('The event is published.', () => api.call('POST', `/v1/events/${id}/publish`))}>
              Publish
            </button>
          )}
          <button type="button" class="secondary" aria-expanded={editing} onClick={() => setEditing(!editing)}>
            {editing ? 'Close the editor' : 'Edit'}
          </button>
          <ConfirmButton
            label="Cancel the event"
            question="Cancel this event? Registered attendees are notified."
            confirmLabel="Cancel the event"
            danger
            onConfirm={act('The event is cancelled.', () => api.call('POST', `/v1/events/${id}/cancel`))}
          />
        </div>
      )}
      {organizer && editing && (
        <EventForm
          existing={event}
          onSaved={(e) => {
            setEvent(e);
            setEditing(false);
            setNotice('The event is saved.');
          }}
        />
      )}

      <section class="panel" aria-labelledby="agenda-h">
        <h2 id="agenda-h">Agenda</h2>
        {sessions.length === 0 ? (
          <p>No sessions yet.</p>
        ) : (
          <ol class="plain agenda">
            {sessions.map((s) => (
              <li key={s.session_id}>
                <strong>{s.title}</strong> {s.live && <span class="tag ok">Live</span>}
                <div class="hint">
                  {dateTime(s.starts_at)} – {dateTime(s.ends_at)}
                  {s.room ? ` · ${s.room}` : ''}
                </div>
                {s.live && event.status === 'published' && <LivePass eventId={event.event_id} session={s} />}
                {organizer && (
                  <ConfirmButton
                    label="Remove"
                    question={`Remove the session "${s.title}"?`}
                    confirmLabel="Remove"
                    danger
                    onConfirm={act('The session is removed.', () => api.call('DELETE', `/v1/events/${id}/sessions/${s.session_id}`))}
                  />
                )}
              </li>
            ))}
          </ol>
        )}
        {organizer && event.status !== 'cancelled' && <SessionForm event={event} onAdded={() => void load()} />}
      </section>

      <Announcements event={event} organizer={organizer} />
      {organizer && <Registrations event={event} version={version} />}
    </Screen>
  );
}
