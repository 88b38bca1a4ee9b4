# The moto zygote: one Python process that has imported moto and built the backends the layer
# calls, and forks a fresh, empty emulator on request. A fork starts in milliseconds; a new
# moto_server spends two seconds of CPU importing before its first answer.
#
#   python moto_zygote.py SOCKET IDLE_SECONDS ACCOUNT REGION SERVICE...
#
# A client connects to SOCKET and sends "spawn\n". The zygote forks; the child binds a free port on
# 127.0.0.1, answers "port <port> pid <pid>\n" and serves until the client's connection closes
# (the client dropped it or died), then exits. The zygote exits after IDLE_SECONDS without a
# request, removing SOCKET.
import gc
import os
import random
import select
import signal
import socket
import sys
import threading
import time


def prewarm(app, create_backend_app, account, region, services):
    from moto.backends import get_backend

    for name in services:
        try:
            backend = get_backend(name)
            app.app_instances[name] = create_backend_app(name)
            # Region-less services live under "global" or "aws"; the rest under the region.
            for key in (region, "global", "aws"):
                try:
                    backend[account][key]
                    break
                except Exception:
                    continue
        except Exception:
            continue


def warm_models(services):
    # Each service's API model, parsed once here: a fork would parse it again on its first request
    # (the model of EC2 alone is megabytes of JSON).
    from moto.core.utils import get_pagination_model, get_service_model

    for name in services:
        try:
            get_pagination_model(name)
        except Exception:
            pass
        try:
            model = get_service_model(name)
            for operation in model.operation_names:
                shaped(model.operation_model(operation), set())
        except Exception:
            continue


def shaped(operation, seen):
    # An operation's input and output shapes, and theirs in turn, each resolved once: botocore
    # builds a shape's members the first time they are asked for, and keeps them.
    stack = [operation.input_shape, operation.output_shape]
    while stack:
        shape = stack.pop()
        # By name: a recursive shape resolves to a new object each time.
        if shape is None or shape.name in seen:
            continue
        seen.add(shape.name)
        kind = shape.type_name
        if kind == "structure":
            stack.extend(shape.members.values())
        elif kind == "list":
            stack.append(shape.member)
        elif kind == "map":
            stack.extend([shape.key, shape.value])


class LazyKeyPair:
    # A KMS key's signing key pair, made when first used. Moto makes an RSA pair for every key it
    # creates, symmetric ones too (tens of milliseconds of CPU each); the layer never signs.
    def __init__(self, make, spec):
        self._make, self._spec, self._pair = make, spec, None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._pair is None:
            self._pair = self._make(self._spec)
        return getattr(self._pair, name)


def lazy_kms_key_pairs():
    from moto.kms import models

    make = models.generate_private_key
    models.generate_private_key = lambda spec: LazyKeyPair(make, spec)


def quicken(services):
    # What moto works out again on every request, though it cannot change while the emulator
    # lives, answered from what was worked out once: the list of its service packages (read from
    # the disk per request), the method names of a response class, and what follows. A fork's
    # request log goes nowhere (its output is discarded): it is not written at all.
    import functools
    import logging

    from moto import backends
    from moto.core import errors, responses, utils

    lazy_kms_key_pairs()
    once = functools.lru_cache(maxsize=None)
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    names = once(responses.method_names_from_class)
    responses.method_names_from_class = lambda clazz: names(clazz)
    # A service's operation router (a URL map, built per request) and, for an error answer, the
    # service's name (botocore lists its models on the disk for it) and its table of error shapes.
    responses.get_service_router = once(responses.get_service_router)
    # A moto package's service name (hyphens dropped), looked up in a table made once, here: moto
    # makes it on each call, reading botocore's models directory, and a fork would again for each
    # service's first error.
    from botocore.session import Session

    by_package = {name.replace("-", ""): name for name in Session().get_available_services()}
    utils.service_name_from_moto_package_name = lambda package: by_package.get(package, package)
    shapes = errors.ErrorLookupFactory()
    errors.ErrorLookupFactory = lambda: shapes
    for name in services:
        try:
            shapes.for_service(utils.get_service_model(name))
        except Exception:
            continue
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    quick_headers()


def quick_headers():
    # A request's head read as name/value pairs, as the email parser that http.server uses reads
    # them (compat32: the name as written, the value without its leading blanks and its line end),
    # without the parser (5% of a fork's time). A folded line, or one that is not a header, goes to
    # that parser, unchanged.
    import http.client

    read = getattr(http.client, "_read_headers", None)
    if read is None:
        return

    def parse_headers(fp, _class=http.client.HTTPMessage):
        lines = [line.decode("iso-8859-1") for line in read(fp)]
        # The last line ends the head (a blank line, or nothing at the end of the stream).
        head = lines[:-1] if lines and lines[-1] in ("\r\n", "\n", "") else lines
        if any(t[:1] in (" ", "\t") or ":" not in t for t in head):
            import email.parser

            return email.parser.Parser(_class=_class).parsestr("".join(lines))
        message = _class()
        for t in head:
            name, value = t.split(":", 1)
            message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
        message.set_payload("")
        return message

    http.client.parse_headers = parse_headers


def routed_once(app, services):
    # Each service's operation routers, built here for every protocol it speaks: a fork would build
    # them on its first call to the service (the S3 router compiles a URL rule per operation).
    from moto.core.routing import get_service_router

    for name in services:
        try:
            router = get_service_router(name)
            model = router._service_model
            for protocol in model.metadata.get("protocols") or [model.protocol]:
                router._get_router(protocol)
        except Exception:
            continue
    # Which backend serves a host, found once per host (moto tries every service's URL patterns in
    # turn, on every call).
    lookup = app.get_backend_for_host
    found = {}

    def backend_for_host(host):
        if host not in found:
            found[host] = lookup(host)
        return found[host]

    app.get_backend_for_host = backend_for_host


def backend_app(create_backend_app):
    # moto's Flask application for a service, without its debug mode: in it Flask wraps each form
    # body in a debugging helper and reloads nothing moto uses. An exception still propagates, as
    # in debug mode (the handler then ends the connection).
    def make(service):
        app = create_backend_app(service)
        app.debug = False
        app.config["PROPAGATE_EXCEPTIONS"] = True
        return app

    return make


def keep_alive(base):
    # moto's request handler, answering on one connection for as long as the client keeps it open.
    # Werkzeug ends every connection after one answer, so each call cost a new connection and a new
    # thread on both sides. The answer is built whole and sent with its length; a request with a
    # chunked body, or an application that fails, still ends the connection after its answer.
    from email.utils import formatdate

    from werkzeug.wsgi import LimitedStream

    dates = [None, ""]

    def now():
        # An answer's Date, formatted once a second (as http.server formats it).
        second = int(time.time())
        if dates[0] != second:
            dates[:] = [second, formatdate(second, usegmt=True)]
        return dates[1]

    class KeepAlive(base):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # The head and the body go out in two writes: without this, the body of every answer
            # but a connection's first waits for the client's delayed acknowledgement (40 ms).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def run_wsgi(self):
            if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            environ = self.environ = self.make_environ()
            body_in = None
            if environ.get("wsgi.input_terminated"):
                self.close_connection = True
            else:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body_in = environ["wsgi.input"] = LimitedStream(self.rfile, length)
            status, headers, chunks = self.answer(environ)
            if body_in is not None:
                body_in.exhaust()
            self.send(status, headers, b"".join(chunks))

        def answer(self, environ):
            answered = []
            chunks = []

            def start_response(status, headers, exc_info=None):
                answered[:] = [status, headers]
                return chunks.append

            try:
                result = self.server.app(environ, start_response)
                try:
                    chunks.extend(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()
                return answered[0], answered[1], chunks
            except Exception:
                self.close_connection = True
                return "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], [b"error"]

        def send(self, status, headers, body):
            code, _, reason = status.partition(" ")
            code = int(code)
            # A HEAD answer keeps the length the application gave (the object's), without a body.
            bodiless = self.command == "HEAD" or code in (204, 304) or code < 200
            self.send_response_only(code, reason)
            names = set()
            for name, value in headers:
                key = name.lower()
                if key in ("connection", "keep-alive", "transfer-encoding") or (
                    key == "content-length" and not bodiless
                ):
                    continue
                names.add(key)
                self.send_header(name, value)
            if "date" not in names:
                self.send_header("Date", now())
            if not bodiless:
                self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            # The head and the body in one write: one segment on the wire, not two.
            self._headers_buffer.append(b"\r\n")
            if not bodiless:
                self._headers_buffer.append(body)
            self.flush_headers()

    return KeepAlive


def serve_child(conn, app, handler):
    from werkzeug.serving import make_server

    # A new moto_server seeds from the system; a fork would repeat every other fork's ids.
    random.seed()
    try:
        from moto.moto_api._internal import mock_random

        mock_random.seed()
    except ImportError:
        pass
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)
    conn.sendall(f"port {port} pid {os.getpid()}\n".encode())

    def watch():
        # The client holds the connection for the emulator's lifetime: end with it.
        try:
            while conn.recv(64):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()
    os._exit(0)


def main():
    path, idle, account, region = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
    services = sys.argv[5:]
    # No CORS headers on every answer (moto's default, read when moto is imported): AWS sends them
    # only for a bucket's own CORS rules, and no client of the layer sends an Origin.
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    make_app = backend_app(create_backend_app)
    app = DomainDispatcherApplication(make_app)
    app.debug = True
    prewarm(app, make_app, account, region, services)
    warm_models(services)
    routed_once(app, services)
    quicken(services)
    # What the zygote built is never garbage: the collector of each fork leaves it alone (fewer
    # collections to run, fewer pages copied), and collects a request's garbage less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    listener.bind(tmp)
    listener.listen(64)
    os.rename(tmp, path)
    try:
        while select.select([listener], [], [], idle)[0]:
            conn, _ = listener.accept()
            if conn.recv(16) != b"spawn\n":
                conn.close()
                continue
            if os.fork() == 0:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                serve_child(conn, app, keep_alive(MotoRequestHandler))
            conn.close()
    finally:
        # Gone from the path before the listener closes: a client that finds no socket starts a
        # new zygote; one that connected in between reads end-of-file and does the same.
        try:
            os.unlink(path)
        except OSError:
            pass


if __name__ == "__main__":
    main()
