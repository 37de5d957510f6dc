// Messaging: the conversation list with unread counts, a new conversation, and a conversation
// with its history paged backwards as the person scrolls up, sending with attachments (upload
// progress), recall, read state and downloads. Screens poll every few seconds, which is also
// how an open tab learns that its session was revoked (a remote wipe signs it out).
import { useEffect, useRef, useState } from 'preact/hooks';

import * as api from '../api';
import { bytes, dateTime } from '../lib/format';
import { navigate } from '../lib/router';
import { can, type Me } from '../session';
import { Alert, ConfirmButton, ErrorAlert, Field, Link, Screen, errorText, saveBlob, useSubmit } from '../ui';

export interface Conversation {
  conversation_id: string;
  title: string | null;
  member_ids: string[];
  last_message_at: string | null;
  read_state?: Record<string, string>;
  unread_count?: number;
}

export interface Message {
  message_id: string;
  sender_id: string;
  body: string;
  attachment_ids: string[];
  sent_at: string;
}

const POLL_MS = 3000;

function usePoll(fn: () => void | Promise<void>, ms = POLL_MS, deps: unknown[] = []) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    void saved.current();
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') void saved.current();
    }, ms);
    return () => clearInterval(t);
  }, deps);
}

/** Display names the caller may know: admins read the user list; others see short ids. */
function useNames(me: Me): Record<string, string> {
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    if (!can(me, 'users.manage')) return;
    api
      .call<{ users: { user_id: string; display_name: string }[] }>('GET', '/v1/admin/users')
      .then((r) => setNames(Object.fromEntries(r.users.map((u) => [u.user_id, u.display_name]))))
      .catch(() => {});
  }, [me.user_id]);
  return names;
}

function nameOf(id: string, me: Me, names: Record<string, string>): string {
  if (id === me.user_id) return 'You';
  return names[id] ?? `Member ${id.slice(0, 6)}`;
}

function titleOf(c: Conversation, me: Me, names: Record<string, string>): string {
  if (c.title) return c.title;
  const others = c.member_ids.filter((m) => m !== me.user_id).map((m) => nameOf(m, me, names));
  return others.length ? others.join(', ') : 'Just you';
}

export function ConversationList(props: { me: Me }) {
  const { me } = props;
  const names = useNames(me);
  const [items, setItems] = useState<Conversation[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);

  usePoll(async () => {
    try {
      const r = await api.call<{ conversations: Conversation[]; next_cursor: string | null }>(
        'GET',
        '/v1/conversations?limit=50',
      );
      setItems((old) => {
        // Keep pages loaded with "more" that the first page no longer covers.
        const first = new Set(r.conversations.map((c) => c.conversation_id));
        return [...r.conversations, ...(old ?? []).slice(50).filter((c) => !first.has(c.conversation_id))];
      });
      setCursor((c) => c ?? r.next_cursor);
      setError(null);
    } catch (e) {
      setError(e);
    }
  });

  const more = async () => {
    if (!cursor) return;
    const r = await api.call<{ conversations: Conversation[]; next_cursor: string | null }>(
      'GET',
      `/v1/conversations?limit=50&cursor=${encodeURIComponent(cursor)}`,
    );
    setItems((old) => [...(old ?? []), ...r.conversations]);
    setCursor(r.next_cursor);
  };

  return (
    <Screen title="Messages">
      <div class="toolbar">
        <button type="button" onClick={() => setCreating(!creating)} aria-expanded={creating}>
          New conversation
        </button>
      </div>
      {creating && <NewConversation me={me} onCancel={() => setCreating(false)} />}
      {error ? <ErrorAlert error={error} /> : null}
      {items === null ? (
        <p role="status">Loading…</p>
      ) : items.length === 0 ? (
        <p>No conversations yet.</p>
      ) : (
        <ul class="list conversations" aria-label="Conversations">
          {items.map((c) => (
            <li key={c.conversation_id}>
              <Link href={`/messages/${c.conversation_id}`} class="row-link">
                <span class="row-title">{titleOf(c, me, names)}</span>
                <span class="row-meta">
                  {c.last_message_at ? dateTime(c.last_message_at) : 'No messages yet'}
                  {(c.unread_count ?? 0) > 0 && (
                    <span class="badge" aria-label={`${c.unread_count} unread`}>
                      {c.unread_count}
                    </span>
                  )}
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" class="secondary" onClick={more}>
          Show more conversations
        </button>
      )}
    </Screen>
  );
}

function NewConversation(props: { me: Me; onCancel: () => void }) {
  const { me } = props;
  const [title, setTitle] = useState('');
  const [ids, setIds] = useState('');
  const [picked, setPicked] = useState<string[]>([]);
  const [users, setUsers] = useState<{ user_id: string; display_name: string; email: string }[]>([]);
  useEffect(() => {
    if (can(me, 'users.manage'))
      api
        .call<{ users: typeof users }>('GET', '/v1/admin/users')
        .then((r) => setUsers(r.users.filter((u) => u.user_id !== me.user_id)))
        .catch(() => {});
  }, []);
  const form = useSubmit(async () => {
    const member_ids = [...new Set([...picked, ...ids.split(/[\s,]+/).filter(Boolean)])];
    const body: Record<string, unknown> = { member_ids };
    if (title.trim()) body.title = title.trim();
    const r = await api.call<{ conversation_id: string }>('POST', '/v1/conversations', body);
    navigate(`/messages/${r.conversation_id}`);
  });
  return (
    <form class="panel" onSubmit={form.submit} novalidate aria-labelledby="new-conv-h">
      <h2 id="new-conv-h">New conversation</h2>
      <ErrorAlert error={form.error} />
      <Field label="Title (optional)" value={title} onValue={setTitle} maxLength={200} />
      {users.length > 0 && (
        <fieldset>
          <legend>Members</legend>
          {users.map((u) => (
            <div class="check" key={u.user_id}>
              <input
                type="checkbox"
                id={`m-${u.user_id}`}
                checked={picked.includes(u.user_id)}
                onChange={(e) =>
                  setPicked((p) =>
                    (e.currentTarget as HTMLInputElement).checked ? [...p, u.user_id] : p.filter((x) => x !== u.user_id),
                  )
                }
              />
              <label for={`m-${u.user_id}`}>
                {u.display_name} <span class="hint">{u.email}</span>
              </label>
            </div>
          ))}
        </fieldset>
      )}
      <Field
        label={users.length ? 'Other members by user ID (optional)' : 'Members by user ID'}
        hint="Separate several IDs with spaces or commas. Each person finds their ID under Account."
        value={ids}
        onValue={setIds}
        autoComplete="off"
      />
      <div class="actions">
        <button type="submit" disabled={form.busy || (picked.length === 0 && !ids.trim())}>
          Start the conversation
        </button>
        <button type="button" class="secondary" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

interface Pending {
  key: number;
  name: string;
  size: number;
  progress: number;
  id?: string;
  error?: string;
}

const PAGE = 30;
let uploadKeys = 0;

export function ConversationView(props: { me: Me; id: string }) {
  const { me, id } = props;
  const names = useNames(me);
  const [conv, setConv] = useState<Conversation | null>(null);
  const [messages, setMessages] = useState<Message[]>([]); // newest first, as the API pages them
  const [older, setOlder] = useState<string | null | undefined>(undefined); // undefined: not loaded yet
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notFound, setNotFound] = useState(false);
  const [body, setBody] = useState('');
  const [files, setFiles] = useState<Pending[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const lastRead = useRef<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const topSentinel = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);

  const merge = (incoming: Message[]) =>
    setMessages((old) => {
      const byId = new Map(old.map((m) => [m.message_id, m]));
      incoming.forEach((m) => byId.set(m.message_id, m));
      return [...byId.values()].sort((a, b) => (a.sent_at < b.sent_at ? 1 : a.sent_at > b.sent_at ? -1 : 0));
    });

  usePoll(
    async () => {
      try {
        const [page, list] = await Promise.all([
          api.call<{ messages: Message[]; next_cursor: string | null }>(
            'GET',
            `/v1/conversations/${id}/messages?limit=${PAGE}`,
          ),
          api.call<{ conversations: Conversation[] }>('GET', '/v1/conversations?limit=100'),
        ]);
        // A recalled message disappears from the newest page: drop what the page covers but lacks.
        setMessages((old) => {
          const fresh = new Set(page.messages.map((m) => m.message_id));
          const oldest = page.messages[page.messages.length - 1]?.sent_at ?? '';
          return old.filter((m) => fresh.has(m.message_id) || (page.next_cursor !== null && m.sent_at < oldest));
        });
        merge(page.messages);
        setOlder((o) => (o === undefined ? page.next_cursor : o));
        setConv(list.conversations.find((c) => c.conversation_id === id) ?? null);
        setError(null);
        const newest = page.messages[0];
        if (newest && newest.message_id !== lastRead.current) {
          lastRead.current = newest.message_id;
          await api.call('POST', `/v1/conversations/${id}/read`, { message_id: newest.message_id });
        }
      } catch (e) {
        if (e instanceof api.ApiError && e.status === 404) setNotFound(true);
        else setError(e);
      }
    },
    POLL_MS,
    [id],
  );

  const loadOlder = async () => {
    if (!older || loadingOlder) return;
    setLoadingOlder(true);
    const el = scroller.current;
    const before = el ? el.scrollHeight - el.scrollTop : 0;
    try {
      const page = await api.call<{ messages: Message[]; next_cursor: string | null }>(
        'GET',
        `/v1/conversations/${id}/messages?limit=${PAGE}&cursor=${encodeURIComponent(older)}`,
      );
      merge(page.messages);
      setOlder(page.next_cursor);
      // Keep the message the person was reading where it was.
      requestAnimationFrame(() => {
        if (el) el.scrollTop = el.scrollHeight - before;
      });
    } catch (e) {
      setError(e);
    } finally {
      setLoadingOlder(false);
    }
  };

  // Infinite scroll: reaching the top of the history loads the page before it.
  useEffect(() => {
    const s = topSentinel.current;
    if (!s || !older) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadOlder();
    });
    io.observe(s);
    return () => io.disconnect();
  }, [older, loadingOlder]);

  useEffect(() => {
    const el = scroller.current;
    if (el && stickToBottom.current) el.scrollTop = el.scrollHeight;
  }, [messages.length]);

  const pick = (list: FileList | null) => {
    if (!list) return;
    [...list].forEach((file) => {
      const key = ++uploadKeys;
      setFiles((f) => [...f, { key, name: file.name, size: file.size, progress: 0 }]);
      const update = (patch: Partial<Pending>) => setFiles((f) => f.map((x) => (x.key === key ? { ...x, ...patch } : x)));
      api
        .upload(file, file.name, (p) => update({ progress: p }))
        .then((r) => update({ id: r.attachment_id, progress: 1 }))
        .catch((e) => update({ error: errorText(e) }));
    });
  };

  const uploading = files.some((f) => !f.id && !f.error);
  const send = useSubmit(async () => {
    const attachment_ids = files.filter((f) => f.id).map((f) => f.id!);
    const payload: Record<string, unknown> = { body };
    if (attachment_ids.length) payload.attachment_ids = attachment_ids;
    const r = await api.call<{ message_id: string; sent_at: string }>('POST', `/v1/conversations/${id}/messages`, payload);
    merge([{ message_id: r.message_id, sender_id: me.user_id, body, attachment_ids, sent_at: r.sent_at }]);
    stickToBottom.current = true;
    setBody('');
    setFiles([]);
    setNotice('Message sent.');
  });

  const recall = async (m: Message) => {
    try {
      await api.call('DELETE', `/v1/conversations/${id}/messages/${m.message_id}`);
      setMessages((old) => old.filter((x) => x.message_id !== m.message_id));
      setNotice('Message recalled.');
    } catch (e) {
      setError(e);
    }
  };

  const fetchFile = async (aid: string) => {
    try {
      const { blob, filename } = await api.download(`/v1/attachments/${aid}`);
      saveBlob(filename ?? `attachment-${aid.slice(0, 8)}`, blob);
    } catch (e) {
      setError(e);
    }
  };

  if (notFound)
    return (
      <Screen title="Conversation not found">
        <p>
          It does not exist or you are not a member. <Link href="/messages">Back to messages</Link>
        </p>
      </Screen>
    );

  const title = conv ? titleOf(conv, me, names) : 'Conversation';
  const chronological = [...messages].reverse();
  const othersRead = (m: Message) => {
    if (!conv?.read_state) return 0;
    return Object.entries(conv.read_state).filter(([uid, mid]) => {
      if (uid === me.user_id) return false;
      const read = messages.find((x) => x.message_id === mid);
      return read ? read.sent_at >= m.sent_at : mid >= m.message_id;
    }).length;
  };
  const lastOwn = messages.find((m) => m.sender_id === me.user_id);

  return (
    <Screen title={title}>
      <p class="hint">
        <Link href="/messages">← All conversations</Link>
        {conv && ` · ${conv.member_ids.length} members`}
      </p>
      <ErrorAlert error={error} />
      <div
        class="history"
        ref={scroller}
        tabIndex={0}
        role="log"
        aria-label="Message history"
        onScroll={(e) => {
          const el = e.currentTarget as HTMLDivElement;
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        <div ref={topSentinel} class="sentinel">
          {older ? (
            <button type="button" class="secondary small" onClick={loadOlder} disabled={loadingOlder}>
              {loadingOlder ? 'Loading older messages…' : 'Load older messages'}
            </button>
          ) : older === null ? (
            <span class="hint">Start of the conversation</span>
          ) : null}
        </div>
        {chronological.length === 0 && older !== undefined && <p class="hint">No messages yet. Say hello.</p>}
        <ol class="messages">
          {chronological.map((m) => {
            const mine = m.sender_id === me.user_id;
            return (
              <li key={m.message_id} class={mine ? 'msg mine' : 'msg'}>
                <div class="msg-head">
                  <span class="sender">{nameOf(m.sender_id, me, names)}</span>{' '}
                  <time dateTime={m.sent_at}>{dateTime(m.sent_at)}</time>
                </div>
                <div class="msg-body">{m.body}</div>
                {m.attachment_ids.length > 0 && (
                  <ul class="attachments" aria-label="Attachments">
                    {m.attachment_ids.map((aid, i) => (
                      <li key={aid}>
                        <button type="button" class="secondary small" onClick={() => fetchFile(aid)}>
                          Download attachment {m.attachment_ids.length > 1 ? i + 1 : ''}
                        </button>
                      </li>
                    ))}
                  </ul>
                )}
                {mine && (
                  <div class="msg-foot">
                    {m === lastOwn && conv && (
                      <span class="hint">{othersRead(m) > 0 ? `Seen by ${othersRead(m)}` : 'Not seen yet'}</span>
                    )}
                    <ConfirmButton
                      label="Recall"
                      question="Recall this message for everyone?"
                      confirmLabel="Recall"
                      danger
                      onConfirm={() => recall(m)}
                    />
                  </div>
                )}
              </li>
            );
          })}
        </ol>
      </div>
      <div class="sr-only" role="status">
        {notice}
      </div>
      <form class="composer" onSubmit={send.submit} novalidate>
        <ErrorAlert error={send.error} />
        <div class="field">
          <label for="composer-body">Message</label>
          <textarea
            id="composer-body"
            rows={3}
            value={body}
            onInput={(e) => setBody((e.currentTarget as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send.submit();
            }}
          />
        </div>
        {files.length > 0 && (
          <ul class="uploads" aria-label="Attachments to send">
            {files.map((f) => (
              <li key={f.key}>
                <span>
                  {f.name} ({bytes(f.size)})
                </span>
                {f.error ? (
                  <Alert>{f.error}</Alert>
                ) : (
                  <progress max={1} value={f.progress} aria-label={`Uploading ${f.name}`}>
                    {Math.round(f.progress * 100)}%
                  </progress>
                )}
                <span class="hint">{f.id ? 'Ready' : f.error ? '' : `${Math.round(f.progress * 100)}%`}</span>
                <button type="button" class="link-button" onClick={() => setFiles((x) => x.filter((y) => y.key !== f.key))}>
                  Remove <span class="sr-only">{f.name}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        <div class="actions">
          <label class="file-button">
            Attach files
            <input
              type="file"
              multiple
              class="visually-hidden-file"
              onChange={(e) => {
                pick((e.currentTarget as HTMLInputElement).files);
                (e.currentTarget as HTMLInputElement).value = '';
              }}
            />
          </label>
          <button type="submit" disabled={send.busy || uploading || !body.trim()}>
            Send
          </button>
        </div>
      </form>
    </Screen>
  );
}
