#!/usr/bin/python3
"""Provider behaviours an application must handle, through the official Python helper library
(Debian python3-twilio) against the REST facade of a real mmsgate on port 0; the subscriber's
phone is played with mmsctl (Simulator.SendFromHandset, GetHandsetInbox).

Covers: opt-out keywords (STOP -> 21610 -> START -> delivered; HELP's reply in the inbox);
initial status (a create answers queued; through a Messaging Service, accepted); Messaging
Services (sender from the pool, sticky over 50 recipients, a STOP covering the pool);
redaction (an empty Body); ValidityPeriod's range; the status callback's fields; scheduled
messages (one canceled before its time; one released on the simulation clock of a second
gateway running 120 times faster; the scheduling refusals); image adaptation (a 1.4 MB JPEG to
a carrier with a 1 MB limit arrives as a decodable JPEG under 1 MB, decoded with Pillow); test
credentials (every magic number).

Usage: /usr/bin/python3 provider_fidelity_test.py --mmsgate PATH --mmsctl PATH
Prints one line per check and finally "N passed, M failed"; exits 0 only when all passed.
"""

import argparse
import datetime
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
import urllib.request

from rest_facade_test import Checks, Gateway, expect, expect_rest_exception  # noqa: E402
from twilio.base.exceptions import TwilioRestException  # noqa: E402
from twilio.rest import Client  # noqa: E402

ACCOUNT = "AC3333333333333333333333333333abcd"
TOKEN = "fidelity-token-0123456789"
LONG_CODE = "+12025550100"
SUBSCRIBER = "+12025550142"
OPTING_SUBSCRIBER = "+12025550143"  # only the opt-out checks text it
SLOW_SUBSCRIBER = "+12125550142"  # a carrier that holds messages for minutes
SERVICE = "MG5555555555555555555555555555abcd"
POOL = ["+13105550100", "+13105550101", "+13105550102"]

TEST_ACCOUNT = "AC9999999999999999999999999999abcd"  # has test credentials
TEST_TOKEN = "fidelity-test-credentials-token"

SCENARIO = f"""
accounts {{ sid: "{ACCOUNT}" auth_token: "{TOKEN}" }}
accounts {{ sid: "{TEST_ACCOUNT}" auth_token: "{TEST_TOKEN}" test_credentials: true }}
carriers {{ id: "mmsnet" name: "MMS Net" country: "US" prefixes: "+1202555" supports_mms: true
           default_for_country: true latency {{ median_ms: 10 }} }}
carriers {{ id: "slownet" name: "Slow Net" country: "US" prefixes: "+1212555" supports_mms: true
           latency {{ median_ms: 600000 }} }}
numbers {{ number: "{LONG_CODE}" account_sid: "{ACCOUNT}" type: LONG_CODE country: "US"
          capabilities {{ sms: true mms: true }} }}
carriers {{ id: "westnet" name: "West Net" country: "US" prefixes: "+1310555" supports_mms: true
           latency {{ median_ms: 10 }} }}
carriers {{ id: "onemb" name: "One MB" country: "US" prefixes: "+1404555" supports_mms: true
           max_mms_bytes: 1000000 latency {{ median_ms: 10 }} }}
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


class Picture(http.server.BaseHTTPRequestHandler):
    """An application's media server: GET answers `body` as a JPEG."""
    body = b""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

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

        def scheduled_then_canceled():
            send_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
            message = client.messages.create(to=SUBSCRIBER, body="in two days",
                                             messaging_service_sid=SERVICE,
                                             schedule_type="fixed", send_at=send_at)
            expect(message.status == "scheduled", message.status)
            canceled = client.messages(message.sid).update(status="canceled")
            expect(canceled.status == "canceled", canceled.status)
            expect(client.messages(message.sid).fetch().status == "canceled", "not stored")
            expect_rest_exception(lambda: client.messages(message.sid).update(status="canceled"),
                                  400, 30409)
            return f"{message.sid}: scheduled, then canceled; canceling again is 400/30409"

        def scheduling_refusals():
            soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
            later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
            expect_rest_exception(lambda: client.messages.create(
                to=SUBSCRIBER, body="x", messaging_service_sid=SERVICE, schedule_type="fixed",
                send_at=soon), 400, 35115)
            expect_rest_exception(lambda: client.messages.create(
                to=SUBSCRIBER, body="x", messaging_service_sid=SERVICE, schedule_type="fixed",
                send_at="tomorrow at noon"), 400, 35114)
            expect_rest_exception(lambda: client.messages.create(
                to=SUBSCRIBER, body="x", messaging_service_sid=SERVICE, schedule_type="daily",
                send_at=later), 400, 35111)
            expect_rest_exception(lambda: client.messages.create(
                to=SUBSCRIBER, body="x", from_=LONG_CODE, schedule_type="fixed",
                send_at=later), 400, 35118)
            return "5 minutes ahead 35115, unparsable 35114, daily 35111, no service 35118"

        def scheduled_release_on_the_simulation_clock():
            fast_dir = os.path.join(workdir, "fast")
            os.makedirs(fast_dir)
            fast = Gateway(args.mmsgate, fast_dir,
                           SCENARIO.replace("time_scale: 1.0", "time_scale: 120"))
            try:
                fast_client = Client(ACCOUNT, TOKEN)
                fast_client.api.base_url = fast.base_url
                for _ in range(20):
                    # The simulation's present: a message's creation date (on that clock).
                    now = fast_client.messages.create(to=SUBSCRIBER, from_=LONG_CODE,
                                                      body="what time is it").date_created
                    send_at = now + datetime.timedelta(minutes=20)
                    try:
                        message = fast_client.messages.create(
                            to=SUBSCRIBER, body="twenty minutes later",
                            messaging_service_sid=SERVICE, schedule_type="fixed",
                            send_at=send_at)
                        break
                    except TwilioRestException as e:  # a slow machine passed the window
                        expect(e.code == 35115, e)
                expect(message.status == "scheduled", message.status)
                deadline = time.time() + 120
                while time.time() < deadline:
                    fetched = fast_client.messages(message.sid).fetch()
                    if fetched.status == "delivered":
                        break
                    time.sleep(0.1)
                expect(fetched.status == "delivered", fetched.status)
                # Judged on the simulated schedule: sent at SendAt (dates have whole seconds),
                # at least the 15-minute minimum after its creation.
                expect(fetched.date_sent >= send_at - datetime.timedelta(seconds=1),
                       (fetched.date_sent, send_at))
                waited = fetched.date_sent - fetched.date_created
                expect(waited >= datetime.timedelta(minutes=15), waited)
                return f"{message.sid} delivered; sent {waited} (simulated) after its creation"
            finally:
                fast.stop()

        def adapted_image():
            import base64
            import io
            from PIL import Image
            # A photo-like 1.4 MB JPEG: noise does not compress away.
            width = 1200
            for _ in range(8):
                bands = [Image.effect_noise((width, width * 3 // 4), 40) for _ in range(3)]
                buffer = io.BytesIO()
                Image.merge("RGB", bands).save(buffer, "JPEG", quality=90)
                original = buffer.getvalue()
                ratio = 1_400_000 / len(original)
                if abs(ratio - 1) < 0.03:
                    break
                width = int(width * ratio ** 0.5)
            # Served the way an application serves media: over HTTP, from its own server.
            picture_server = http.server.ThreadingHTTPServer(
                ("127.0.0.1", 0), type("PictureHandler", (Picture,), {"body": original}))
            threading.Thread(target=picture_server.serve_forever, daemon=True).start()
            try:
                message = client.messages.create(
                    to="+14045550142", from_=LONG_CODE, body="a picture",
                    media_url=[f"http://127.0.0.1:{picture_server.server_address[1]}/photo.jpg"])
            finally:
                picture_server.shutdown()
            expect(await_status(message.sid, "delivered").status == "delivered", message.sid)
            media = client.messages(message.sid).media.list()
            expect(len(media) == 1, media)
            expect(media[0].content_type == "image/jpeg", media[0].content_type)
            content = gateway.base_url + media[0].uri.replace(".json", "")
            request = urllib.request.Request(content)
            request.add_header("Authorization", "Basic " + base64.b64encode(
                f"{ACCOUNT}:{TOKEN}".encode()).decode())
            with urllib.request.urlopen(request) as response:
                delivered = response.read()
            expect(len(delivered) < 1_000_000, len(delivered))
            picture = Image.open(io.BytesIO(delivered))
            picture.load()  # every pixel decodes
            expect(picture.format == "JPEG", picture.format)
            before = Image.open(io.BytesIO(original)).size
            expect(abs(picture.size[0] / picture.size[1] - before[0] / before[1]) < 0.01,
                   (picture.size, before))
            return (f"{len(original)} bytes {before} -> {len(delivered)} bytes {picture.size}, "
                    "delivered as MMS")

        def magic_numbers():
            test_client = Client(TEST_ACCOUNT, TEST_TOKEN)
            test_client.api.base_url = gateway.base_url
            rows = [("+15005550001", SUBSCRIBER, 400, 21212),
                    ("+15005550007", SUBSCRIBER, 400, 21606),
                    ("+15005550008", SUBSCRIBER, 429, 21611),
                    ("+15005550006", "+15005550001", 400, 21211),
                    ("+15005550006", "+15005550002", 400, 21612),
                    ("+15005550006", "+15005550003", 400, 21408),
                    ("+15005550006", "+15005550004", 400, 21610),
                    ("+15005550006", "+15005550009", 400, 21614)]
            for sender, to, status, code in rows:
                expect_rest_exception(lambda: test_client.messages.create(
                    from_=sender, to=to, body="magic"), status, code)
            message = test_client.messages.create(from_="+15005550006", to=SUBSCRIBER,
                                                  body="magic")
            expect(message.status == "queued", message.status)
            expect_rest_exception(lambda: test_client.messages(message.sid).fetch(), 404, 20404)
            return f"{len(rows)} magic numbers refused as documented; +15005550006 queued, not stored"

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
        checks.run("scheduled: a create answers scheduled; Status=canceled cancels it",
                   scheduled_then_canceled)
        checks.run("scheduled: SendAt outside the window, unparsable, ScheduleType, no service",
                   scheduling_refusals)
        checks.run("scheduled: released at SendAt on the simulation clock (time_scale 120)",
                   scheduled_release_on_the_simulation_clock)
        checks.run("test credentials: every magic number answers as the provider documents",
                   magic_numbers)
        checks.run("adaptation: a 1.4 MB JPEG to a 1 MB carrier arrives as a JPEG under 1 MB",
                   adapted_image)
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
