#!/usr/bin/python3
"""Provider behaviours an application must handle, through the official Python helper library
(Debian python3-twilio) against the REST facade of a real mmsgate on port 0; the subscriber's
phone is played with mmsctl (Simulator.SendFromHandset, GetHandsetInbox).

Covers: opt-out keywords (STOP -> 21610 -> START -> delivered; HELP's reply in the inbox);
initial status (a create answers queued; through a Messaging Service, accepted); Messaging
Services (sender from the pool, sticky over 50 recipients, a STOP covering the pool);
redaction (an empty Body); ValidityPeriod's range; the status callback's fields.

Usage: /usr/bin/python3 provider_fidelity_test.py --mmsgate PATH --mmsctl PATH
Prints one line per check and finally "N passed, M failed"; exits 0 only when all passed.
"""

import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from rest_facade_test import Checks, Gateway, expect, expect_rest_exception  # noqa: E402
from twilio.rest import Client  # noqa: E402

ACCOUNT = "AC3333333333333333333333333333abcd"
TOKEN = "fidelity-token-0123456789"
LONG_CODE = "+12025550100"
SUBSCRIBER = "+12025550142"
OPTING_SUBSCRIBER = "+12025550143"  # only the opt-out checks text it
SLOW_SUBSCRIBER = "+12125550142"  # a carrier that holds messages for minutes
SERVICE = "MG5555555555555555555555555555abcd"
POOL = ["+13105550100", "+13105550101", "+13105550102"]

SCENARIO = f"""
accounts {{ sid: "{ACCOUNT}" auth_token: "{TOKEN}" }}
carriers {{ id: "mmsnet" name: "MMS Net" country: "US" prefixes: "+1202555" supports_mms: true
           default_for_country: true latency {{ median_ms: 10 }} }}
carriers {{ id: "slownet" name: "Slow Net" country: "US" prefixes: "+1212555" supports_mms: true
           latency {{ median_ms: 600000 }} }}
numbers {{ number: "{LONG_CODE}" account_sid: "{ACCOUNT}" type: LONG_CODE country: "US"
          capabilities {{ sms: true mms: true }} }}
carriers {{ id: "westnet" name: "West Net" country: "US" prefixes: "+1310555" supports_mms: true
           latency {{ median_ms: 10 }} }}
""" + "".join(f"""numbers {{ number: "{n}" account_sid: "{ACCOUNT}" type: LONG_CODE country: "US"
          capabilities {{ sms: true mms: true }} }}
""" for n in POOL) + f"""messaging_services {{ sid: "{SERVICE}" account_sid: "{ACCOUNT}" friendly_name: "pool"
  {" ".join(f'numbers: "{n}"' for n in POOL)} sticky_sender: true }}
simulation {{ time_scale: 1.0 seed: 5 disable_sender_rate_limits: true }}
"""


class CallbackHandler(http.server.BaseHTTPRequestHandler):
    """The application's status callback endpoint: keeps each POST's form fields."""
    received = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with CallbackHandler.lock:
            CallbackHandler.received.append(dict(urllib.parse.parse_qsl(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Phone:
    """The subscriber's handset, through mmsctl."""

    def __init__(self, mmsctl, gateway):
        self.mmsctl = mmsctl
        self.env = dict(os.environ, MMSGATE_ADDR=gateway.grpc_address,
                        MMSGATE_ACCOUNT_SID=ACCOUNT, MMSGATE_AUTH_TOKEN=TOKEN)

    def run(self, *args):
        result = subprocess.run([self.mmsctl, "--json", *args], env=self.env, text=True,
                                capture_output=True, timeout=30)
        expect(result.returncode == 0, f"mmsctl {' '.join(args)}: {result.stderr}")
        return json.loads(result.stdout)

    def texts(self, to, sender):
        inbox = self.run("inbox", to)
        return [m.get("text", "") for m in inbox.get("messages", []) if m.get("from") == sender]

    def text(self, sender, to, body):
        return self.run("handset", "send", "--from", sender, "--to", to, "--body", body)

    def await_texts(self, to, sender, count):
        deadline = time.time() + 20
        while True:
            texts = self.texts(to, sender)
            if len(texts) >= count or time.time() > deadline:
                return texts
            time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mmsgate", required=True)
    parser.add_argument("--mmsctl", required=True)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="mmsgate-fidelity-")
    checks = Checks()
    gateway = None
    try:
        gateway = Gateway(args.mmsgate, workdir, SCENARIO)
        print(f"mmsgate on {gateway.base_url}, gRPC {gateway.grpc_address}", flush=True)
        client = Client(ACCOUNT, TOKEN)
        client.api.base_url = gateway.base_url
        phone = Phone(args.mmsctl, gateway)

        def await_status(sid, wanted):
            deadline = time.time() + 20
            while True:
                message = client.messages(sid).fetch()
                if message.status == wanted or time.time() > deadline:
                    return message
                time.sleep(0.05)

        def stop_refuses_with_21610():
            received = phone.text(OPTING_SUBSCRIBER, LONG_CODE, "stop")
            expect(received["status"] == "RECEIVED", received)
            texts = phone.await_texts(OPTING_SUBSCRIBER, LONG_CODE, 1)
            expect(texts and "successfully been unsubscribed" in texts[0], texts)
            before = len(client.messages.list(from_=LONG_CODE, to=OPTING_SUBSCRIBER))
            detail = expect_rest_exception(
                lambda: client.messages.create(to=OPTING_SUBSCRIBER, from_=LONG_CODE, body="sale!"),
                400, 21610)
            after = len(client.messages.list(from_=LONG_CODE, to=OPTING_SUBSCRIBER))
            expect(after == before, f"a refused create stored a message ({before} -> {after})")
            return detail

        def start_then_delivered():
            phone.text(OPTING_SUBSCRIBER, LONG_CODE, "START")
            texts = phone.await_texts(OPTING_SUBSCRIBER, LONG_CODE, 2)
            expect(len(texts) >= 2 and "re-subscribed" in texts[1], texts)
            message = client.messages.create(to=OPTING_SUBSCRIBER, from_=LONG_CODE, body="welcome back")
            final = await_status(message.sid, "delivered")
            expect(final.status == "delivered", f"{final.status} {final.error_code}")
            return final.sid

        def help_reply_in_inbox():
            before = len(phone.texts(OPTING_SUBSCRIBER, LONG_CODE))
            phone.text(OPTING_SUBSCRIBER, LONG_CODE, " Help ")
            texts = phone.await_texts(OPTING_SUBSCRIBER, LONG_CODE, before + 1)
            expect(len(texts) == before + 1, texts)
            expect(texts[-1] == "Reply STOP to unsubscribe. Msg&Data Rates May Apply.", texts[-1])
            return texts[-1]

        def create_answers_queued():
            message = client.messages.create(to=SUBSCRIBER, from_=LONG_CODE, body="first")
            expect(message.status == "queued", message.status)
            return message.status

        def redaction():
            message = client.messages.create(to=SUBSCRIBER, from_=LONG_CODE, body="my code 1234")
            expect(await_status(message.sid, "delivered").status == "delivered", "not delivered")
            redacted = client.messages(message.sid).update(body="")
            expect(redacted.body == "", f"body {redacted.body!r}")
            expect(redacted.status == "delivered", redacted.status)
            fetched = client.messages(message.sid).fetch()
            expect(fetched.body == "", f"fetched body {fetched.body!r}")
            expect(fetched.to == SUBSCRIBER, fetched.to)
            return message.sid

        def redaction_of_unfinished_refused():
            message = client.messages.create(to=SLOW_SUBSCRIBER, from_=LONG_CODE, body="slow")
            detail = expect_rest_exception(
                lambda: client.messages(message.sid).update(body=""), 409, 20009)
            fetched = client.messages(message.sid).fetch()
            expect(fetched.body == "slow", f"body {fetched.body!r}")
            return detail

        def validity_period_range():
            for value in (0, 36001):
                expect_rest_exception(
                    lambda: client.messages.create(to=SUBSCRIBER, from_=LONG_CODE, body="v",
                                                   validity_period=value), 400, 90007)
            message = client.messages.create(to=SUBSCRIBER, from_=LONG_CODE, body="v",
                                             validity_period=36000)
            return message.status

        def service_sticky_over_50():
            first = {}
            for i in range(50):
                to = f"+1310555{2000 + i}"
                message = client.messages.create(to=to, messaging_service_sid=SERVICE,
                                                 body="from the pool")
                expect(message.status == "accepted", f"status {message.status}")
                expect(message.messaging_service_sid == SERVICE, message.messaging_service_sid)
                expect(message.from_ in POOL, f"from {message.from_}")
                first[to] = message.from_
            expect(len(set(first.values())) > 1, "all 50 recipients got one sender")
            for to, sender in first.items():
                again = client.messages.create(to=to, messaging_service_sid=SERVICE, body="again")
                expect(again.from_ == sender, f"{to}: {again.from_} after {sender}")
            return f"{len(set(first.values()))} senders for 50 recipients, each kept"

        def service_stop_covers_the_pool():
            phone.text("+13105553000", POOL[0], "STOP")
            phone.await_texts("+13105553000", POOL[0], 1)
            for sender in POOL[1:]:
                expect_rest_exception(
                    lambda: client.messages.create(to="+13105553000", from_=sender, body="x"),
                    400, 21610)
            return expect_rest_exception(
                lambda: client.messages.create(to="+13105553000", messaging_service_sid=SERVICE,
                                               body="x"), 400, 21610)

        def status_callback_fields():
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CallbackHandler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_address[1]}/status"
            try:
                message = client.messages.create(to="+13105554000", body="tracked",
                                                  messaging_service_sid=SERVICE,
                                                  status_callback=url)
                deadline = time.time() + 20
                while time.time() < deadline:
                    with CallbackHandler.lock:
                        mine = [c for c in CallbackHandler.received
                                if c.get("MessageSid") == message.sid]
                    if any(c.get("MessageStatus") == "delivered" for c in mine):
                        break
                    time.sleep(0.05)
            finally:
                server.shutdown()
            statuses = [c.get("MessageStatus") for c in mine]
            expect(statuses == ["queued", "sending", "sent", "delivered"], statuses)
            delivered = mine[-1]
            for field in ("MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "AccountSid",
                          "From", "To", "ApiVersion", "MessagingServiceSid", "RawDlrDoneDate"):
                expect(field in delivered, f"{field} missing: {sorted(delivered)}")
            expect(delivered["SmsSid"] == message.sid, delivered["SmsSid"])
            expect(delivered["MessagingServiceSid"] == SERVICE, delivered["MessagingServiceSid"])
            expect(len(delivered["RawDlrDoneDate"]) == 10 and delivered["RawDlrDoneDate"].isdigit(),
                   delivered["RawDlrDoneDate"])
            expect("RawDlrDoneDate" not in mine[0], "RawDlrDoneDate before delivery")
            return f"{statuses}, RawDlrDoneDate {delivered['RawDlrDoneDate']}"

        def unknown_service():
            return expect_rest_exception(
                lambda: client.messages.create(to=SUBSCRIBER, body="x",
                                               messaging_service_sid="MG" + "0" * 32), 400, 21705)

        checks.run("service: a create answers accepted, the sender is sticky over 50 recipients",
                   service_sticky_over_50)
        checks.run("service: a STOP to one pool number refuses sends from the whole pool",
                   service_stop_covers_the_pool)
        checks.run("service: an unknown MessagingServiceSid is 400/21705", unknown_service)
        checks.run("status callbacks: queued (after accepted) to delivered, the provider's fields",
                   status_callback_fields)
        checks.run("initial status: a create from a number answers queued",
                   create_answers_queued)
        checks.run("redaction: an empty Body empties a delivered message's body", redaction)
        checks.run("redaction: an unfinished message is refused with 409/20009",
                   redaction_of_unfinished_refused)
        checks.run("validity: ValidityPeriod 0 and 36001 are 400/90007, 36000 is accepted",
                   validity_period_range)
        checks.run("opt-out: STOP, then a create is refused with 400/21610, nothing stored",
                   stop_refuses_with_21610)
        checks.run("opt-out: START, then a create is delivered", start_then_delivered)
        checks.run("opt-out: HELP gets the provider's reply in the handset inbox",
                   help_reply_in_inbox)
    except Exception as e:  # noqa: BLE001
        checks.failed += 1
        print(f"FAIL setup: {type(e).__name__}: {e}", flush=True)
    finally:
        if gateway is not None:
            code = gateway.stop()
            if code != 0:
                checks.failed += 1
                print(f"FAIL mmsgate exited with {code}:\n{gateway.read_log()}", flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed", flush=True)
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
