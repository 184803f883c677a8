"""The Python test kit for mmsgate (docs/testing.md, "A fixture for pytest"): start a gateway on
port 0 with its own data directory, make an account per test, send, and await a status through
WatchEvents instead of polling.

    # conftest.py
    from mmsgate_kit import gateway, account  # noqa: F401  (pytest fixtures)

    # test_checkout.py
    def test_confirmation_is_delivered(gateway, account):
        sent = gateway.send(account, to="+12025550142", body="order confirmed")
        assert gateway.await_status(account, sent.sid).status == gateway.DELIVERED

It needs grpcio and protobuf (Debian python3-grpcio, python3-protobuf) and the message modules
protoc writes for mmsgate's .proto files (the build puts them in build/proto/python); the RPCs
are called by name, so no gRPC code generator is needed. Environment: MMSGATE_BINARY (the
mmsgate to start) and MMSGATE_PYTHON_PROTO (where the message modules are).
"""

import base64
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

import grpc

sys.path.insert(0, os.environ.get("MMSGATE_PYTHON_PROTO", "build/proto/python"))
from mmsgate.v1 import accounts_pb2, message_pb2, messaging_pb2, simulator_pb2  # noqa: E402

FINAL_STATUSES = (message_pb2.DELIVERED, message_pb2.UNDELIVERED, message_pb2.FAILED,
                  message_pb2.CANCELED)


@dataclass
class Account:
    """An account made for one test: its credentials and its US long code (SMS and MMS)."""
    sid: str
    auth_token: str
    number: str

    def metadata(self):
        credentials = base64.b64encode(f"{self.sid}:{self.auth_token}".encode()).decode()
        return (("authorization", "Basic " + credentials),)


class Gateway:
    """A running mmsgate: started on 127.0.0.1 port 0, stopped with SIGTERM."""

    DELIVERED = message_pb2.DELIVERED
    UNDELIVERED = message_pb2.UNDELIVERED
    FAILED = message_pb2.FAILED

    def __init__(self, binary=None, scenario_text=None, extra_args=(), admin_token=None):
        binary = binary or os.environ["MMSGATE_BINARY"]
        self.workdir = tempfile.mkdtemp(prefix="mmsgate-kit-")
        self.admin_token = admin_token
        args = [binary, "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0",
                "--data-dir", os.path.join(self.workdir, "data"), *extra_args]
        if scenario_text is not None:
            scenario = os.path.join(self.workdir, "scenario.txtpb")
            with open(scenario, "w") as f:
                f.write(scenario_text)
            args += ["--scenario", scenario]
        if admin_token:
            args += ["--admin-token", admin_token]
        self.log_path = os.path.join(self.workdir, "mmsgate.log")
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.grpc_address, self.http_address = self._read_ready_line()
        self.channel = grpc.insecure_channel(self.grpc_address)

    def _read_ready_line(self):
        # "mmsgate ready grpc=127.0.0.1:PORT http=127.0.0.1:PORT": the process contract.
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout],
                         daemon=True).start()
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if line.startswith("mmsgate ready "):
                grpc_address = line.split("grpc=")[1].split()[0]
                http_address = line.split("http=")[1].split()[0]
                return grpc_address, http_address
        self.process.kill()
        self._log.flush()
        with open(self.log_path) as f:
            raise RuntimeError("mmsgate did not become ready:\n" + f.read()[-4000:])

    def stop(self):
        self.channel.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- calls by name ----------------------------------------------------------------------

    def _unary(self, method, request, response_type, metadata=()):
        call = self.channel.unary_unary(method, request_serializer=type(request).SerializeToString,
                                        response_deserializer=response_type.FromString)
        return call(request, metadata=metadata, timeout=30)

    def create_account(self, friendly_name="test"):
        """A new account with a number (Accounts.CreateAccount with provision_defaults)."""
        metadata = (("x-admin-token", self.admin_token),) if self.admin_token else ()
        created = self._unary("/mmsgate.v1.Accounts/CreateAccount",
                              accounts_pb2.CreateAccountRequest(friendly_name=friendly_name[:64],
                                                                provision_defaults=True),
                              accounts_pb2.CreateAccountResponse, metadata)
        return Account(created.account.sid, created.account.auth_token,
                       created.numbers[0].number if created.numbers else "")

    def send(self, account, to, body="", media=(), **fields):
        """Messaging.SendMessage from the account's number; `media`: (content_type, bytes)."""
        request = messaging_pb2.SendMessageRequest(to=to, body=body, **fields)
        if not getattr(request, "from") and not request.messaging_service_sid:
            setattr(request, "from", account.number)
        for content_type, data in media:
            request.media.add(content_type=content_type, data=data)
        return self._unary("/mmsgate.v1.Messaging/SendMessage", request, message_pb2.Message,
                           account.metadata())

    def get_message(self, account, sid):
        return self._unary("/mmsgate.v1.Messaging/GetMessage",
                           messaging_pb2.GetMessageRequest(sid=sid), message_pb2.Message,
                           account.metadata())

    def list_messages(self, account):
        return self._unary("/mmsgate.v1.Messaging/ListMessages",
                           messaging_pb2.ListMessagesRequest(page_size=1000),
                           messaging_pb2.ListMessagesResponse, account.metadata()).messages

    def reset(self, account):
        """Simulator.Reset: the whole gateway back to its scenario."""
        metadata = account.metadata()
        if self.admin_token:
            metadata += (("x-admin-token", self.admin_token),)
        return self._unary("/mmsgate.v1.Simulator/Reset", simulator_pb2.ResetRequest(),
                           simulator_pb2.ResetResponse, metadata)

    def await_status(self, account, sid, reached=None, timeout=120):
        """The message once `reached(message)` holds (default: a final status), read from a
        WatchEvents stream that starts with the message's current state, so no change slips
        between a read and the watch. Raises TimeoutError after `timeout` seconds."""
        reached = reached or (lambda message: message.status in FINAL_STATUSES)
        watch = self.channel.unary_stream(
            "/mmsgate.v1.Messaging/WatchEvents",
            request_serializer=messaging_pb2.WatchEventsRequest.SerializeToString,
            response_deserializer=message_pb2.Event.FromString)
        stream = watch(messaging_pb2.WatchEventsRequest(message_sids=[sid], send_current=True),
                       metadata=account.metadata(), timeout=timeout)
        last = None
        try:
            for event in stream:
                if event.kind != message_pb2.Event.STATUS_CHANGED:
                    continue
                last = event.message
                if reached(last):
                    return last
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        finally:
            stream.cancel()
        raise TimeoutError(f"{sid} did not reach the awaited status in {timeout} s; last seen: "
                           f"{message_pb2.MessageStatus.Name(last.status) if last else 'nothing'}")


try:
    import pytest

    @pytest.fixture(scope="session")
    def gateway():
        """One mmsgate for the whole test session."""
        running = Gateway()
        yield running
        running.stop()

    @pytest.fixture
    def account(gateway, request):
        """A fresh account (with a number) for every test, named after it."""
        return gateway.create_account(request.node.name)
except ImportError:  # the kit works without pytest, too
    pass
