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
        for load in (get_service_model, get_pagination_model):
            try:
                load(name)
            except Exception:
                continue


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


def quicken():
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
    utils.service_name_from_moto_package_name = once(utils.service_name_from_moto_package_name)
    shapes = errors.ErrorLookupFactory()
    errors.ErrorLookupFactory = lambda: shapes
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


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
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    prewarm(app, create_backend_app, account, region, services)
    warm_models(services)
    quicken()
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
                serve_child(conn, app, MotoRequestHandler)
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
