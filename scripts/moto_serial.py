"""moto's server, one request at a time.

`moto_server` serves requests on parallel threads without per-item locking, so two
conditional writes to one DynamoDB item can both pass their condition — something real
DynamoDB never allows. Bulwark's tests rely on that atomicity (lockout counters, single-use
tokens, unique slugs), so the suite runs moto's own WSGI app single-threaded: each request
completes before the next starts, which gives exactly DynamoDB's per-item atomicity.

Usage: python scripts/moto_serial.py PORT
"""
import os
import signal
import sys

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app


def main() -> None:
    port = int(sys.argv[1])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
