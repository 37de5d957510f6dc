#!/usr/bin/env python3
"""Load and crash drivers for the local server (scripts/soak, scripts/crash). Standard library only.

    loadgen.py soak  SERVER_BIN [N] [C]   N mixed requests (100000) at concurrency C (16); exit 1 on any error
    loadgen.py crash SERVER_BIN [CYCLES]  kill -9 during sends (50 cycles), restart, check every acked send

Each starts its own server (embedded mode) on a fresh temporary data dir and a free loopback
port, creates a tenant, accepts the invitations from $DATA_DIR/outbox/*.eml and logs in.
BULWARK_SOAK_KEEP=1 keeps the data dir (its path is printed). See BENCHMARKS.md.
"""

import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

OPERATOR_TOKEN = "bwop_soak_" + hashlib.sha256(os.urandom(16)).hexdigest()[:32]
PASSPHRASE = "soak-keyring-passphrase-0123456789"
PASSWORD = "Correct-Horse-Battery-9"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One bulwark-server process on a data dir; restartable on the same dir."""

    def __init__(self, binary, data_dir, log_path):
        self.binary, self.data_dir, self.log_path = binary, data_dir, log_path
        self.proc = None
        self.port = None

    def start(self, timeout=60.0):
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            BULWARK_DATA_DIR=self.data_dir,
            BULWARK_LISTEN=f"127.0.0.1:{self.port}",
            BULWARK_OPERATOR_TOKEN=OPERATOR_TOKEN,
            BULWARK_KEYRING_PASSPHRASE=PASSPHRASE,
            BULWARK_ANON_RATE_PER_IP="100000000",
            BULWARK_MAIL_RATE_PER_ACCOUNT="100000000",
        )
        env.pop("BULWARK_BACKEND", None)
        log = open(self.log_path, "ab")
        log.write(f"---- start {time.strftime('%H:%M:%S')}\n".encode())
        log.flush()
        t0 = time.monotonic()
        self.proc = subprocess.Popen([self.binary], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        # Ready = the API answers (an unauthenticated GET /v1/me gets 401).
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                return None
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/v1/me")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 401:
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.02)
        return None

    def status_kib(self, field):
        """A memory figure of /proc/<pid>/status (VmHWM: peak RSS, VmRSS: now), in KiB."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class Client:
    """A keep-alive HTTP/1.1 connection. With retry_stale, a request that fails on a reused
    connection (the server closed it while idle) is sent once more on a new one."""

    def __init__(self, port, token=None, retry_stale=True):
        self.port, self.token, self.retry_stale = port, token, retry_stale
        self.conn = None
        self.used = 0

    def request(self, method, path, body=None, headers=None, raw=False):
        h = {}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if body is not None and not raw:
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        while True:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.used = 0
            stale_possible = self.retry_stale and self.used > 0
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if stale_possible:
                    continue
                raise
            except Exception:
                self.close()
                raise
            self.used += 1
            if (r.getheader("Connection") or "").lower() == "close":
                self.close()
            return r.status, data, r

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def expect(status, data, want, what):
    if status != want:
        raise SystemExit(f"setup: {what}: expected {want}, got {status}: {data[:300]!r}")
    return json.loads(data) if data else None


def invitation_token(data_dir, email, seen):
    """The token= of the newest invitation mail to `email` not already used."""
    outbox = os.path.join(data_dir, "outbox")
    for _ in range(200):
        for name in sorted(os.listdir(outbox)) if os.path.isdir(outbox) else []:
            if name in seen or not name.endswith(".eml"):
                continue
            text = open(os.path.join(outbox, name), encoding="utf-8", errors="replace").read()
            to = re.search(r"^To: *(.+)$", text, re.M)
            tok = re.search(r"token=([A-Za-z0-9._-]+)", text)
            if to and tok and to.group(1).strip().lower() == email.lower():
                seen.add(name)
                return tok.group(1)
        time.sleep(0.05)
    raise SystemExit(f"setup: no invitation mail to {email} in {outbox}")


def login(port, slug, email):
    c = Client(port)
    st, data, _ = c.request("POST", "/v1/auth/login", {"tenant": slug, "email": email, "password": PASSWORD})
    c.close()
    body = expect(st, data, 200, f"login {email}")
    return body["access_token"]


def setup_tenant(port, data_dir, slug, n_members):
    """Tenant, its admin and n_members members, all logged in: [(user_id, email, token)]."""
    seen = set()
    op = Client(port, OPERATOR_TOKEN)
    admin_email = f"admin@{slug}.test"
    expect(*op.request("POST", "/v1/platform/tenants", {"slug": slug, "name": f"Soak {slug}", "admin_email": admin_email})[:2], 201, "create tenant")
    op.close()
    users = []

    def accept(email, name):
        tok = invitation_token(data_dir, email, seen)
        c = Client(port)
        body = expect(*c.request("POST", "/v1/invitations/accept", {"token": tok, "password": PASSWORD, "display_name": name})[:2], 201, f"accept {email}")
        c.close()
        return body["user_id"]

    admin_id = accept(admin_email, "Admin")
    admin_token = login(port, slug, admin_email)
    users.append((admin_id, admin_email, admin_token))
    admin = Client(port, admin_token)
    for i in range(n_members):
        email = f"member{i}@{slug}.test"
        expect(*admin.request("POST", "/v1/admin/invitations", {"email": email, "role": "member"})[:2], 201, f"invite {email}")
        uid = accept(email, f"Member {i}")
        users.append((uid, email, login(port, slug, email)))
    admin.close()
    return users


def create_conversation(port, token, title, member_ids):
    c = Client(port, token)
    body = expect(*c.request("POST", "/v1/conversations", {"title": title, "member_ids": member_ids})[:2], 201, f"conversation {title}")
    c.close()
    return body["conversation_id"]


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def make_data_dir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


# ---------------------------------------------------------------------------------------- soak

# (kind, weight). An attachment op is two requests (upload, download). Each worker's logins
# also renew its access token (it lives 15 minutes; a worker logs in again after 10).
MIX = [
    ("send", 30),
    ("list_messages", 20),
    ("list_conversations", 10),
    ("me", 12),
    ("read", 12),
    ("attachment", 7),
    ("login", 1),
]
# The only answer each request may get.
EXPECTED = {"send": 201, "list_messages": 200, "list_conversations": 200, "me": 200, "read": 204,
            "upload": 201, "download": 200, "login": 200}


def soak(binary, n, c):
    data_dir = make_data_dir("bulwark-soak.")
    server = Server(binary, data_dir, data_dir + ".log")
    print(f"soak: {n} requests at concurrency {c}; server {binary}; data dir {data_dir}", flush=True)
    if server.start() is None:
        print("soak: the server did not start\n" + server.log_tail(), file=sys.stderr)
        return 1
    try:
        return soak_run(server, data_dir, n, c)
    finally:
        server.stop()
        if os.environ.get("BULWARK_SOAK_KEEP") != "1":
            shutil.rmtree(data_dir, ignore_errors=True)
            try:
                os.unlink(data_dir + ".log")
            except OSError:
                pass


def soak_run(server, data_dir, n, c):
    port, slug = server.port, "soak"
    t_setup = time.monotonic()
    users = setup_tenant(port, data_dir, slug, 5)
    ids = [u[0] for u in users]
    admin_token = users[0][2]
    convs = [(create_conversation(port, admin_token, "all hands", ids[1:]), set(ids))]
    for uid, email, token in users[1:]:
        convs.append((create_conversation(port, admin_token, f"dm {email}", [uid]), {ids[0], uid}))
    convs.append((create_conversation(port, users[1][2], "pair", [ids[2]]), {ids[1], ids[2]}))
    print(f"soak: setup {len(users)} users, {len(convs)} conversations in {time.monotonic() - t_setup:.1f} s", flush=True)

    lock = threading.Lock()
    state = {"issued": 0}
    lat = {k: [] for k in EXPECTED}
    statuses = {}  # (kind, status) -> count
    errors = []  # (kind, method, path, status, body)
    weights = [w for _, w in MIX]
    kinds = [k for k, _ in MIX]

    def claim(k):
        with lock:
            if state["issued"] + k > n:
                return False
            state["issued"] += k
            return True

    def worker(wi):
        rnd = random.Random(wi)
        uid, email, token = users[wi % len(users)]
        my_convs = [cid for cid, members in convs if uid in members]
        last_msg = {}
        cl = Client(port, token)
        token_at = time.monotonic()
        local_lat = {k: [] for k in EXPECTED}
        local_status = {}
        local_err = []

        def call(kind, method, path, body=None, headers=None, raw=False):
            t0 = time.perf_counter()
            try:
                st, data, resp = cl.request(method, path, body, headers, raw)
            except Exception as e:  # noqa: BLE001 - any transport failure is an error of the run
                local_status[(kind, "transport")] = local_status.get((kind, "transport"), 0) + 1
                local_err.append((kind, method, path, f"transport {type(e).__name__}: {e}", b""))
                return None, None
            local_lat[kind].append(time.perf_counter() - t0)
            local_status[(kind, st)] = local_status.get((kind, st), 0) + 1
            if st != EXPECTED[kind]:
                local_err.append((kind, method, path, st, data[:500]))
                return st, None
            return st, data

        while True:
            kind = "login" if time.monotonic() - token_at > 600 else rnd.choices(kinds, weights)[0]
            if not claim(2 if kind == "attachment" else 1):
                if not claim(1):
                    break
                kind = "me"
            cid = rnd.choice(my_convs)
            if kind == "send":
                _, data = call("send", "POST", f"/v1/conversations/{cid}/messages",
                               {"body": f"soak message from {email} #{rnd.getrandbits(32):08x} " + "x" * rnd.randint(0, 400)})
                if data:
                    last_msg[cid] = json.loads(data)["message_id"]
            elif kind == "list_messages":
                _, data = call("list_messages", "GET", f"/v1/conversations/{cid}/messages?limit={rnd.choice([10, 20, 50])}")
                if data:
                    msgs = json.loads(data)["messages"]
                    if msgs:
                        last_msg.setdefault(cid, msgs[0]["message_id"])
            elif kind == "list_conversations":
                call("list_conversations", "GET", "/v1/conversations")
            elif kind == "me":
                call("me", "GET", "/v1/me")
            elif kind == "read":
                mid = last_msg.get(cid)
                if mid is None:
                    # Nothing known in this conversation yet: read something else instead.
                    call("me", "GET", "/v1/me")
                else:
                    call("read", "POST", f"/v1/conversations/{cid}/read", {"message_id": mid})
            elif kind == "attachment":
                blob = os.urandom(rnd.choice([512, 4096, 32 * 1024, 200 * 1024]))
                _, data = call("upload", "POST", "/v1/attachments", blob,
                               {"Content-Type": "application/octet-stream", "X-Filename": "soak.bin"}, raw=True)
                if data:
                    att = json.loads(data)
                    if att["sha256"] != hashlib.sha256(blob).hexdigest() or att["size"] != len(blob):
                        local_err.append(("upload", "POST", "/v1/attachments", "bad sha256/size", data[:300]))
                    _, got = call("download", "GET", f"/v1/attachments/{att['attachment_id']}")
                    if got is not None and got != blob:
                        local_err.append(("download", "GET", f"/v1/attachments/{att['attachment_id']}",
                                          f"content differs ({len(got)} vs {len(blob)} bytes)", b""))
            elif kind == "login":
                lc = Client(port)
                t0 = time.perf_counter()
                try:
                    st, data, _ = lc.request("POST", "/v1/auth/login", {"tenant": slug, "email": email, "password": PASSWORD})
                except Exception as e:  # noqa: BLE001
                    st, data = f"transport {type(e).__name__}: {e}", b""
                lc.close()
                local_lat["login"].append(time.perf_counter() - t0)
                local_status[("login", st)] = local_status.get(("login", st), 0) + 1
                if st != 200:
                    local_err.append(("login", "POST", "/v1/auth/login", st, data[:500]))
                else:
                    cl.token, token_at = json.loads(data)["access_token"], time.monotonic()
        cl.close()
        with lock:
            for k, v in local_lat.items():
                lat[k].extend(v)
            for k, v in local_status.items():
                statuses[k] = statuses.get(k, 0) + v
            errors.extend(local_err)

    rss_setup = server.status_kib("VmHWM")
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(c)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    # The server's RSS at each tenth of the requests (a leak shows as steady growth).
    curve, next_mark = [], 1
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)
        with lock:
            done = state["issued"]
        while next_mark <= 10 and done >= n * next_mark / 10:
            curve.append(server.status_kib("VmRSS"))
            next_mark += 1
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    while len(curve) < 10:
        curve.append(server.status_kib("VmRSS"))

    total = sum(statuses.values())
    hwm = server.status_kib("VmHWM")
    size = dir_size(data_dir)
    print(f"\nsoak: {total} requests in {elapsed:.1f} s = {total / elapsed:.0f} req/s at concurrency {c}")
    print(f"{'kind':<20}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}  statuses")
    for k in EXPECTED:
        v = lat[k]
        st = ", ".join(f"{s}: {cnt}" for (kk, s), cnt in sorted(statuses.items(), key=lambda x: str(x[0])) if kk == k)
        print(f"{k:<20}{len(v):>8}{pct(v, 50) * 1e3:>10.2f}{pct(v, 99) * 1e3:>10.2f}{(max(v) if v else float('nan')) * 1e3:>10.2f}  {st}")
    allv = [x for v in lat.values() for x in v]
    print(f"{'all':<20}{len(allv):>8}{pct(allv, 50) * 1e3:>10.2f}{pct(allv, 99) * 1e3:>10.2f}{max(allv) * 1e3:>10.2f}")
    print(f"server peak RSS (VmHWM): {hwm / 1024:.1f} MiB (after setup: {rss_setup / 1024:.1f} MiB); "
          f"data dir: {size / 1e6:.1f} MB")
    print("server RSS at each tenth of the requests (MiB): " + " ".join(f"{(k or 0) / 1024:.0f}" for k in curve))
    n5xx = sum(cnt for (_, s), cnt in statuses.items() if isinstance(s, int) and s >= 500)
    print(f"soak: {total} requests, {len(errors)} errors ({n5xx} 5xx), {total / elapsed:.0f} req/s, "
          f"p50 {pct(allv, 50) * 1e3:.2f} ms, p99 {pct(allv, 99) * 1e3:.2f} ms, peak RSS {hwm / 1024:.1f} MiB")
    if errors:
        print(f"\nsoak: {len(errors)} unexpected answers (first 20):", file=sys.stderr)
        for e in errors[:20]:
            print(f"  {e[0]}: {e[1]} {e[2]} -> {e[3]} {e[4]!r}", file=sys.stderr)
        print("server log tail:\n" + server.log_tail(), file=sys.stderr)
        return 1
    if total != n:
        print(f"soak: only {total} of {n} requests were made", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------------- crash


def list_all(port, token, conv):
    """Every message of the conversation, newest first, paged with limit=100: {id: body}, or an error."""
    stored = {}
    cl = Client(port, token)
    cursor = None
    try:
        while True:
            path = f"/v1/conversations/{conv}/messages?limit=100"
            if cursor:
                path += "&cursor=" + cursor
            st, data, _ = cl.request("GET", path)
            if st != 200:
                return None, f"listing messages answered {st}: {data[:300]!r}"
            page = json.loads(data)
            for m in page["messages"]:
                stored[m["message_id"]] = m["body"]
            cursor = page.get("next_cursor")
            if not cursor:
                return stored, None
    finally:
        cl.close()


def crash(binary, cycles, senders=8):
    data_dir = make_data_dir("bulwark-crash.")
    server = Server(binary, data_dir, data_dir + ".log")
    print(f"crash: {cycles} kill -9 cycles, {senders} senders; server {binary}; data dir {data_dir}", flush=True)
    slug = "crash"
    rnd = random.Random(os.environ.get("BULWARK_CRASH_SEED"))
    acked = {}  # message_id -> body, every send answered 201 in any cycle
    unacked_present = 0
    http_errors = []  # answers other than 201 to a send before the kill
    failed = None
    survived = 0
    lost_n = 0
    restart_times = []
    t_all = time.monotonic()
    try:
        if server.start() is None:
            print("crash: the server did not start\n" + server.log_tail(), file=sys.stderr)
            return 1
        users = setup_tenant(server.port, data_dir, slug, 1)
        (_, admin_email, _), (member_id, member_email, _) = users
        conv = create_conversation(server.port, users[0][2], "crash", [member_id])
        emails = [admin_email, member_email]
        print(f"{'cycle':>5} {'kill at s':>9} {'acked':>7} {'in flight':>9} {'restart s':>9} {'acked total':>11} "
              f"{'stored':>7} {'lost':>5} {'verify s':>8}", flush=True)
        for cycle in range(1, cycles + 1):
            # The server running now is the one restarted after the previous kill (or the first).
            port = server.port
            tokens = [login(port, slug, e) for e in emails]
            stop = threading.Event()
            lock = threading.Lock()
            cycle_acked = {}
            in_flight = [0]

            def sender(ti):
                cl = Client(port, tokens[ti % len(tokens)], retry_stale=False)
                seq = 0
                while not stop.is_set():
                    seq += 1
                    body = f"crash c{cycle} t{ti} #{seq} " + "y" * (seq % 200)
                    try:
                        st, data, _ = cl.request("POST", f"/v1/conversations/{conv}/messages", {"body": body})
                    except Exception:  # noqa: BLE001 - killed in flight: this send is unacknowledged
                        with lock:
                            in_flight[0] += 1
                        break
                    with lock:
                        if st == 201:
                            cycle_acked[json.loads(data)["message_id"]] = body
                        else:
                            http_errors.append((cycle, st, data[:300]))
                cl.close()

            threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(senders)]
            for t in threads:
                t.start()
            delay = rnd.uniform(0.1, 1.5)
            time.sleep(delay)
            server.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=60)
            with lock:
                acked.update(cycle_acked)

            # Restart on the same data dir: the store must open, and every acknowledged send
            # (of this and every earlier cycle) must be listed with its body intact.
            restart = server.start()
            if restart is None:
                failed = f"cycle {cycle}: the server did not come back after kill -9"
                break
            restart_times.append(restart)
            tv = time.monotonic()
            stored, err = list_all(server.port, login(server.port, slug, admin_email), conv)
            if err:
                failed = f"cycle {cycle}: {err}"
                break
            lost = [mid for mid in acked if mid not in stored]
            altered = [mid for mid in acked if mid in stored and stored[mid] != acked[mid]]
            unacked_present = sum(1 for mid in stored if mid not in acked)
            print(f"{cycle:>5} {delay:>9.2f} {len(cycle_acked):>7} {in_flight[0]:>9} {restart:>9.2f} {len(acked):>11} "
                  f"{len(stored):>7} {len(lost):>5} {time.monotonic() - tv:>8.2f}", flush=True)
            if lost or altered:
                lost_n = len(lost)
                failed = (f"cycle {cycle}: {len(lost)} acknowledged messages missing, {len(altered)} altered "
                          f"(e.g. {(lost or altered)[:3]})")
                break
            survived = cycle
        server.stop()
    finally:
        server.kill9()
    elapsed = time.monotonic() - t_all
    print(f"\ncrash: {elapsed:.0f} s; restart after kill -9: median {pct(restart_times, 50):.2f} s, "
          f"max {max(restart_times or [float('nan')]):.2f} s; data dir {dir_size(data_dir) / 1e6:.1f} MB")
    print(f"crash: {unacked_present} stored messages whose send got no answer (committed before the kill, "
          f"answer lost; allowed); {len(http_errors)} non-201 answers to sends")
    for e in http_errors[:10]:
        print(f"  cycle {e[0]}: {e[1]} {e[2]!r}")
    print(f"crash: {survived} cycles, {len(acked)} acknowledged sends, {lost_n} lost")
    if failed:
        print("crash: FAILED: " + failed + "\nserver log tail:\n" + server.log_tail(), file=sys.stderr)
    if os.environ.get("BULWARK_SOAK_KEEP") == "1" or failed:
        print(f"crash: data dir kept: {data_dir} (server log {data_dir}.log)")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        try:
            os.unlink(data_dir + ".log")
        except OSError:
            pass
    return 1 if failed or http_errors or survived < cycles else 0


def main(argv):
    if len(argv) < 3 or argv[1] not in ("soak", "crash"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, binary, rest = argv[1], argv[2], [int(a) for a in argv[3:]]
    if mode == "soak":
        n = rest[0] if len(rest) > 0 else 100000
        c = rest[1] if len(rest) > 1 else 16
        return soak(binary, n, c)
    return crash(binary, rest[0] if rest else 50)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
