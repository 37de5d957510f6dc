"""Bulwark's AWS mode on this machine, against moto instead of an AWS account.

Starts moto's server one request at a time (scripts/moto_serial.py) on a free 127.0.0.1 port,
creates in it what template.yaml would (KMS master key, attachments bucket, SES identity of the
sender, platform table, push and maintenance queues with their dead-letter queues, and the
secrets <prefix>/operator-token, jwt-signing/current, jwt-signing/previous, index/email-hmac),
then runs a command with the environment of a deployed function (BULWARK_BACKEND=aws, the
BULWARK_* resource names, AWS_ENDPOINT_URL and dummy credentials). When the command ends — or
on Ctrl-C / SIGTERM, which are passed on to it — moto is stopped and its data is gone.

    .venv/bin/python scripts/aws_local.py run [--join] [--serving] [--show-mail] -- CMD [ARG...]
    .venv/bin/python scripts/aws_local.py env     # eval "$(...)": the running session's exports

scripts/serve --aws and scripts/invoke --aws use `run`. While a session runs, its details are
in $BULWARK_AWS_DIR/session.env (default ./.bulwark-aws), which `scripts/mail` reads to find
moto, and moto's log in moto.log next to it.

  --join       use the moto of an already running session instead of starting one, if any
  --serving    the command is bulwark-server: print the operator token and the next commands
               once it accepts connections on $BULWARK_LISTEN (127.0.0.1:8080)
  --show-mail  print the mail moto holds (scripts/mail) after the command, before moto stops

Settings honoured: BULWARK_RESOURCE_PREFIX (bulwark), BULWARK_BUCKET (<prefix>-attachments),
BULWARK_MAIL_FROM (its domain is verified in SES), BULWARK_OPERATOR_TOKEN (stored as the
operator-token secret; generated when unset), AWS_REGION / AWS_DEFAULT_REGION (us-east-1).
"""

import argparse
import os
import secrets
import shlex
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from email.utils import parseaddr
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The session's environment for commands; OPERATOR_TOKEN and SESSION_PID are for scripts only.
EXPORTED = (
    "BULWARK_BACKEND",
    "BULWARK_RESOURCE_PREFIX",
    "BULWARK_BUCKET",
    "BULWARK_KMS_KEY_ID",
    "BULWARK_MAIL_FROM",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
)
DEFAULT_MAIL_FROM = "Bulwark <no-reply@bulwark.localhost>"
# The moto servers this process started: stopped on the way out, however it ends.
STARTED: list = []


def say(msg: str) -> None:
    print(f"aws-local: {msg}", file=sys.stderr, flush=True)


def session_dir() -> Path:
    return Path(os.environ.get("BULWARK_AWS_DIR") or ROOT / ".bulwark-aws")


def read_session(path: Path):
    """The session file's values if its process is still running, else None."""
    try:
        text = path.read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = (shlex.split(value) or [""])[0]
    try:
        os.kill(int(values.get("SESSION_PID", "")), 0)
    except (ValueError, ProcessLookupError):
        return None
    except PermissionError:
        pass
    return values


def write_session(path: Path, values: dict) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for key, value in values.items():
            f.write(f"{key}={shlex.quote(value)}\n")
    os.replace(tmp, path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def random_text(n: int) -> str:
    # As template.yaml's GenerateSecretString (ExcludePunctuation): letters and digits.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def start_moto(log_path: Path):
    """moto_serial.py on a free port in its own process group; (process, endpoint)."""
    for _attempt in range(3):
        port = free_port()
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "moto_serial.py"), str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the command, which stops first; then moto
        )
        STARTED.append(proc)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if answers("127.0.0.1", port):
                return proc, f"http://127.0.0.1:{port}"
            time.sleep(0.1)
        if proc.poll() is None:
            stop(proc)
            break
        # Most likely the port was taken between choosing and binding it: try another.
    say(f"moto did not start; its log ({log_path}):")
    sys.stderr.write(log_path.read_text(errors="replace"))
    sys.exit(1)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def provision(endpoint: str, region: str, prefix: str, bucket: str, mail_from: str, operator_token: str) -> str:
    """Create what template.yaml creates; returns the master key's ARN."""
    import boto3  # from the project venv (installed with moto)

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
        )

    kms = client("kms")
    key = kms.create_key(
        Description="Bulwark master key; wraps per-tenant and per-object data keys (envelope encryption)."
    )["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"])
    kms.create_alias(AliasName=f"alias/{prefix}-master", TargetKeyId=key["KeyId"])

    sm = client("secretsmanager")
    values = {
        "operator-token": operator_token,
        "jwt-signing/current": random_text(64),
        "jwt-signing/previous": random_text(64),
        "index/email-hmac": random_text(64),
    }
    for name, value in values.items():
        sm.create_secret(Name=f"{prefix}/{name}", KmsKeyId=key["Arn"], SecretString=value)

    s3 = client("s3")
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )

    # The sender's domain, as the SesIdentity parameter of the template.
    address = parseaddr(mail_from)[1]
    identity = address.rpartition("@")[2] or address
    client("sesv2").create_email_identity(EmailIdentity=identity)

    ddb = client("dynamodb")
    table = f"{prefix}-platform"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key["Arn"]},
        DeletionProtectionEnabled=True,
        Tags=[{"Key": "bulwark:backup", "Value": "true"}],
    )
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )

    sqs = client("sqs")
    for queue, visibility in (("push", 90), ("maintenance", 720)):
        dlq = sqs.create_queue(QueueName=f"{prefix}-{queue}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})
        arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.create_queue(
            QueueName=f"{prefix}-{queue}",
            Attributes={
                "VisibilityTimeout": str(visibility),
                "RedrivePolicy": f'{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}',
            },
        )
    return key["Arn"]


def banner(values: dict, listen: str) -> None:
    api = f"http://{listen}"
    token = values["OPERATOR_TOKEN"]
    endpoint = values["AWS_ENDPOINT_URL"]
    lines = [
        "",
        f"AWS mode against moto at {endpoint} (prefix {values['BULWARK_RESOURCE_PREFIX']},"
        f" bucket {values['BULWARK_BUCKET']}); the API is on {api}",
        "",
        f"  operator token:  {token}   (the {values['BULWARK_RESOURCE_PREFIX']}/operator-token secret)",
        f"  sent mail:       scripts/mail   (SES messages held by moto; raw: {endpoint}/moto-api/data.json)",
        "",
        "Next, in another terminal:",
        "",
        f"  TOKEN={token}",
        f"  curl -s -X POST {api}/v1/platform/tenants \\",
        "    -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        "    -d '{\"slug\":\"acme\",\"name\":\"Acme Health\",\"admin_email\":\"admin@acme.test\"}'",
        "  scripts/mail                 # the invitation, with its link (token=...)",
        "",
        "Ctrl-C stops the server and moto; moto keeps everything in memory, so the data goes with it.",
        "",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)


def run(args) -> int:
    if not args.command:
        say("usage: aws_local.py run [--join] [--serving] [--show-mail] -- CMD [ARG...]")
        return 2
    path = session_dir() / "session.env"
    running = read_session(path)
    if running and not args.join:
        say(
            f"an AWS-mode session is already running (pid {running['SESSION_PID']}, moto at "
            f"{running['AWS_ENDPOINT_URL']}); stop it first, or set BULWARK_AWS_DIR to a directory of its own"
        )
        return 1

    def interrupted(_signum, _frame):
        raise KeyboardInterrupt

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupted)  # until the command runs: stop moto and leave
    child = None
    try:
        if running:
            values = running
            say(f"using the moto of the running session (pid {values['SESSION_PID']}) at {values['AWS_ENDPOINT_URL']}")
        else:
            values = start_session(path)
            if "_error" in values:
                say(f"could not create the resources in moto: {values['_error']} (moto's log: {path.parent / 'moto.log'})")
                return 1

        env = dict(os.environ)
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            env.pop(name, None)
        env.update({k: values[k] for k in EXPORTED})

        # The command gets its own process group; signals to this process are passed on to it.
        child = subprocess.Popen(args.command, env=env, process_group=0)

        signalled = []

        def forward(signum, _frame):
            signalled.append(signum)
            try:
                os.killpg(child.pid, signal.SIGTERM if signum == signal.SIGHUP else signum)
            except ProcessLookupError:
                pass

        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, forward)
        if args.serving:
            announce_when_listening(child, values, env.get("BULWARK_LISTEN") or "127.0.0.1:8080")
        code = child.wait()
        if args.show_mail and STARTED and not signalled:
            subprocess.run(
                [sys.executable, str(ROOT / "scripts" / "mail"), "--endpoint", values["AWS_ENDPOINT_URL"]],
                check=False,
            )
        return code if code >= 0 else 128 - code
    finally:
        if child is not None and child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            child.wait()
        if STARTED:
            for proc in STARTED:
                stop(proc)
            ours = read_session(path)
            if ours and ours.get("SESSION_PID") == str(os.getpid()):
                path.unlink(missing_ok=True)


def start_session(path: Path) -> dict:
    """Start moto, provision it and write the session file; the session's values."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    prefix = os.environ.get("BULWARK_RESOURCE_PREFIX") or "bulwark"
    bucket = os.environ.get("BULWARK_BUCKET") or f"{prefix}-attachments"
    mail_from = os.environ.get("BULWARK_MAIL_FROM") or DEFAULT_MAIL_FROM
    token = os.environ.get("BULWARK_OPERATOR_TOKEN", "").strip() or f"bwop_{secrets.token_hex(32)}"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _moto, endpoint = start_moto(path.parent / "moto.log")
    try:
        key_arn = provision(endpoint, region, prefix, bucket, mail_from, token)
    except Exception as e:  # noqa: BLE001 - reported by the caller, which stops moto
        return {"_error": f"{type(e).__name__}: {e}"}
    values = {
        "SESSION_PID": str(os.getpid()),
        "OPERATOR_TOKEN": token,
        "BULWARK_BACKEND": "aws",
        "BULWARK_RESOURCE_PREFIX": prefix,
        "BULWARK_BUCKET": bucket,
        "BULWARK_KMS_KEY_ID": key_arn,
        "BULWARK_MAIL_FROM": mail_from,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # Never real credentials: everything goes to moto.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    write_session(path, values)
    return values


def announce_when_listening(child: subprocess.Popen, values: dict, listen: str) -> None:
    """Print the banner once the server accepts connections (in the background)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        return  # the server itself reports a bad BULWARK_LISTEN
    probe = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def wait():
        while child.poll() is None:
            if answers(probe, int(port)):
                banner(values, shown)
                return
            time.sleep(0.2)

    threading.Thread(target=wait, daemon=True).start()


def print_env(_args) -> int:
    values = read_session(session_dir() / "session.env")
    if not values:
        say(f"no AWS-mode session is running ({session_dir()}); start one with scripts/serve --aws")
        return 1
    for k in EXPORTED:
        print(f"export {k}={shlex.quote(values[k])}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="start moto, create the resources, run a command against them")
    r.add_argument("--join", action="store_true", help="use the running session's moto, if any")
    r.add_argument("--serving", action="store_true", help="the command is bulwark-server: announce it")
    r.add_argument("--show-mail", action="store_true", help="print moto's SES messages after the command")
    r.add_argument("command", nargs=argparse.REMAINDER)
    r.set_defaults(fn=run)
    e = sub.add_parser("env", help="print the running session's environment as shell exports")
    e.set_defaults(fn=print_env)
    args = parser.parse_args()
    if getattr(args, "command", None) and args.command[0] == "--":
        args.command = args.command[1:]
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
