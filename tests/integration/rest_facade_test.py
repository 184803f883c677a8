#!/usr/bin/python3
"""The REST facade against the provider's official Python helper library (Debian python3-twilio).

Starts the real mmsgate binary on port 0 with its own scenario and data directory, points
twilio.rest.Client at it, and checks what an application would do: send an MMS with two media
URLs (served by a small HTTP server in this process), wait for delivery, list and download its
media, page through 120 messages, and get the provider-shaped exceptions. Raw HTTP checks cover
what the library cannot send (malformed bodies, wrong methods, oversized requests).

Usage: /usr/bin/python3 rest_facade_test.py --mmsgate PATH/TO/mmsgate
Prints one line per check and finally "N passed, M failed"; exits 0 only when all passed.
"""

import argparse
import base64
import concurrent.futures
import datetime
import http.client
import http.server
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

# The library rewrites the API host when these are set; mmsgate must be reached as configured.
for variable in ("TWILIO_EDGE", "TWILIO_REGION"):
    os.environ.pop(variable, None)

from twilio.base.exceptions import TwilioRestException  # noqa: E402
from twilio.rest import Client  # noqa: E402

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "rest-facade-token-0123456789"
OTHER_ACCOUNT = "ACfedcba9876543210fedcba9876543210"
OTHER_TOKEN = "other-account-token-0123456789"
MMS_FROM = "+12025550100"
SMS_ONLY_FROM = "+12065550100"
MMS_TO = "+12025550142"
PAGING_TO = "+12025550177"
SLOW_TO = "+12125550142"  # a carrier that holds messages for minutes

SCENARIO = f"""
accounts {{ sid: "{ACCOUNT}" auth_token: "{TOKEN}" }}
accounts {{ sid: "{OTHER_ACCOUNT}" auth_token: "{OTHER_TOKEN}" }}
carriers {{ id: "mmsnet" name: "MMS Net" country: "US" prefixes: "+1202555" supports_mms: true
           default_for_country: true latency {{ median_ms: 20 }} }}
carriers {{ id: "slownet" name: "Slow Net" country: "US" prefixes: "+1212555" supports_mms: true
           latency {{ median_ms: 600000 }} }}
carriers {{ id: "maple" name: "Maple" country: "CA" supports_mms: true default_for_country: true
           latency {{ median_ms: 20 }} }}
numbers {{ number: "{MMS_FROM}" account_sid: "{ACCOUNT}" type: LONG_CODE country: "US"
          capabilities {{ sms: true mms: true }} }}
numbers {{ number: "{SMS_ONLY_FROM}" account_sid: "{ACCOUNT}" type: LONG_CODE country: "US"
          capabilities {{ sms: true mms: false }} }}
numbers {{ number: "+12025550111" account_sid: "{OTHER_ACCOUNT}" type: LONG_CODE country: "US"
          capabilities {{ sms: true mms: true }} }}
simulation {{ time_scale: 1.0 seed: 11 disable_sender_rate_limits: true }}
"""

# A 1x1 PNG and a minimal JPEG-looking payload (the gateway checks declared types, not pixels).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
    "rkJggg==")
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
MEDIA = {"/a.png": ("image/png", PNG), "/b.jpg": ("image/jpeg", JPEG)}


class MediaHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        item = MEDIA.get(self.path)
        if item is None:
            self.send_error(404)
            return
        content_type, data = item
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Gateway:
    """The mmsgate process: started on port 0, stopped with SIGTERM."""

    def __init__(self, binary, workdir, scenario_text=SCENARIO):
        scenario = os.path.join(workdir, "scenario.txtpb")
        with open(scenario, "w") as f:
            f.write(scenario_text)
        self.log_path = os.path.join(workdir, "mmsgate.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [binary, "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir",
             os.path.join(workdir, "data"), "--scenario", scenario, "--no-sync"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout],
                         daemon=True).start()
        deadline = time.time() + 60
        self.port = None
        while time.time() < deadline and self.port is None:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if line.startswith("mmsgate ready "):
                self.grpc_address = line.split("grpc=")[1].split()[0]
                http_address = line.split("http=")[1].strip()
                self.port = int(http_address.rsplit(":", 1)[1])
        if self.port is None:
            self.process.kill()
            raise RuntimeError("mmsgate did not become ready:\n" + self.read_log())
        self.base_url = f"http://127.0.0.1:{self.port}"

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return -9


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, function):
        try:
            detail = function()
            self.passed += 1
            print(f"PASS {name}" + (f" ({detail})" if detail else ""), flush=True)
        except Exception as e:  # noqa: BLE001 (every failure is reported and counted)
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(limit=3, file=sys.stdout)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def raw(gateway, method, path, body=None, headers=None, sid=ACCOUNT, token=TOKEN):
    """One request over a fresh connection; returns (status, headers, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    all_headers = dict(headers or {})
    if sid is not None:
        credentials = base64.b64encode(f"{sid}:{token}".encode()).decode()
        all_headers["Authorization"] = "Basic " + credentials
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    data = response.read()
    result = (response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    connection.close()
    return result


def expect_error(response, status, code):
    got_status, headers, body = response
    expect(got_status == status, f"HTTP {got_status}, wanted {status}: {body[:300]!r}")
    payload = json.loads(body)
    expect(set(payload) == {"code", "message", "more_info", "status"},
           f"error keys {sorted(payload)}")
    expect(payload["code"] == code, f"code {payload['code']}, wanted {code}: {payload}")
    expect(payload["status"] == status, f"status field {payload['status']}")
    return payload


def expect_rest_exception(function, status, code):
    try:
        function()
    except TwilioRestException as e:
        expect(e.status == status and e.code == code,
               f"TwilioRestException status {e.status} code {e.code}, wanted {status}/{code}: "
               f"{e.msg}")
        return f"{e.status} {e.code}: {e.msg}"
    raise AssertionError("no TwilioRestException")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mmsgate", required=True)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="mmsgate-rest-facade-")
    media_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MediaHandler)
    threading.Thread(target=media_server.serve_forever, daemon=True).start()
    media_base = f"http://127.0.0.1:{media_server.server_address[1]}"
    checks = Checks()
    gateway = None
    try:
        gateway = Gateway(args.mmsgate, workdir)
        print(f"mmsgate on {gateway.base_url}, media on {media_base}", flush=True)
        client = Client(ACCOUNT, TOKEN)
        client.api.base_url = gateway.base_url
        state = {}

        def create_mms():
            message = client.messages.create(
                to=MMS_TO, from_=MMS_FROM, body="hello from the helper library",
                media_url=[media_base + "/a.png", media_base + "/b.jpg"])
            expect(message.sid.startswith("MM") and len(message.sid) == 34, message.sid)
            expect(message.num_media == "2", f"num_media {message.num_media!r}")
            expect(message.status == "queued", message.status)
            expect(message.account_sid == ACCOUNT, message.account_sid)
            expect(message.direction == "outbound-api", message.direction)
            expect(isinstance(message.date_created, datetime.datetime), message.date_created)
            state["mms"] = message.sid
            return message.sid

        def fetch_until_delivered():
            deadline = time.time() + 20
            while time.time() < deadline:
                message = client.messages(state["mms"]).fetch()
                if message.status == "delivered":
                    expect(isinstance(message.date_sent, datetime.datetime), message.date_sent)
                    expect(message.error_code is None, message.error_code)
                    return f"{message.status}, sent {message.date_sent}"
                expect(message.status in ("accepted", "queued", "sending", "sent"),
                       f"status {message.status} ({message.error_code} {message.error_message})")
                time.sleep(0.05)
            raise AssertionError("not delivered within 20 s")

        def list_media():
            media = client.messages(state["mms"]).media.list()
            expect(len(media) == 2, f"{len(media)} media")
            types = sorted(m.content_type for m in media)
            expect(types == ["image/jpeg", "image/png"], types)
            for m in media:
                expect(m.sid.startswith("ME") and m.parent_sid == state["mms"], m.sid)
            fetched = client.messages(state["mms"]).media(media[0].sid).fetch()
            expect(fetched.sid == media[0].sid, fetched.sid)
            state["media"] = media
            return ", ".join(types)

        def media_content():
            for m in state["media"]:
                url = gateway.base_url + m.uri[:-len(".json")]
                with urllib.request.urlopen(url, timeout=10) as response:
                    data = response.read()
                    content_type = response.headers["Content-Type"]
                expected_type, expected = MEDIA["/a.png" if m.content_type == "image/png"
                                                else "/b.jpg"]
                expect(content_type == expected_type, content_type)
                expect(data == expected, f"{len(data)} bytes differ from {len(expected)} sent")
            return "bytes match"

        def media_content_other_account():
            m = state["media"][0]
            path = m.uri[:-len(".json")].replace(ACCOUNT, OTHER_ACCOUNT)
            status, _, _ = raw(gateway, "GET", path, sid=None)
            expect(status == 404, f"HTTP {status}")
            status, _, _ = raw(gateway, "GET", m.uri, sid=OTHER_ACCOUNT, token=OTHER_TOKEN)
            expect(status == 404, f"media JSON with the other account's credentials: {status}")
            return "404"

        def other_account_cannot_see():
            other = Client(OTHER_ACCOUNT, OTHER_TOKEN)
            other.api.base_url = gateway.base_url
            # The other account's client addresses its own account: the message is not there.
            r = expect_rest_exception(lambda: other.messages(state["mms"]).fetch(), 404, 20404)
            # Credentials of one account on another account's URL: 404 too.
            expect_error(raw(gateway, "GET", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
                             sid=OTHER_ACCOUNT, token=OTHER_TOKEN), 404, 20404)
            return r

        def page_through_120():
            sids = set()
            for i in range(120):
                sids.add(client.messages.create(to=PAGING_TO, from_=SMS_ONLY_FROM,
                                                body=f"paging {i}").sid)
            listed = client.messages.list(to=PAGING_TO, page_size=50)
            expect(len(listed) == 120, f"list gave {len(listed)}")
            expect({m.sid for m in listed} == sids, "listed SIDs differ from the created ones")
            page = client.messages.page(to=PAGING_TO, page_size=50)
            sizes = []
            seen = []
            while page is not None:
                records = list(page)
                sizes.append(len(records))
                seen.extend(m.sid for m in records)
                page = page.next_page()
            expect(sizes == [50, 50, 20], f"page sizes {sizes}")
            expect(len(set(seen)) == 120 and set(seen) == sids, "pages repeat or miss messages")
            everything = client.messages.list(page_size=50)
            expect(len(everything) >= 121, f"unfiltered list gave {len(everything)}")
            # Numbered pages without a token (Page=2) give the same third page.
            status, _, body = raw(gateway, "GET", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
                                  f"?To=%2B{PAGING_TO[1:]}&PageSize=50&Page=2")
            payload = json.loads(body)
            expect(status == 200 and len(payload["messages"]) == 20, f"Page=2: {status}")
            expect(payload["next_page_uri"] is None and payload["page"] == 2, payload["page"])
            expect(set(payload) == {"end", "first_page_uri", "last_page_uri", "next_page_uri",
                                    "num_pages", "page", "page_size", "previous_page_uri",
                                    "start", "total", "uri", "messages"}, sorted(payload))
            expect(payload["start"] == 100 and payload["end"] == 119,
                   f"start {payload['start']} end {payload['end']}")
            return f"pages {sizes}"

        def date_sent_filters():
            today = datetime.datetime.now(datetime.timezone.utc).date()
            sent_today = client.messages.list(to=MMS_TO, date_sent=today)
            expect(any(m.sid == state["mms"] for m in sent_today), "the MMS is not in DateSent")
            after = client.messages.list(to=MMS_TO, date_sent_after=today)
            expect(any(m.sid == state["mms"] for m in after), "the MMS is not in DateSent>")
            before = client.messages.list(to=MMS_TO,
                                          date_sent_before=today - datetime.timedelta(days=1))
            expect(len(before) == 0, f"{len(before)} sent before yesterday")
            expect_error(raw(gateway, "GET", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
                             "?DateSent=yesterday"), 400, 21200)
            return f"{len(sent_today)} sent today"

        def eleven_media():
            urls = [f"{media_base}/a.png?{i}" for i in range(11)]
            return expect_rest_exception(
                lambda: client.messages.create(to=MMS_TO, from_=MMS_FROM, media_url=urls),
                400, 21623)

        def invalid_to():
            return expect_rest_exception(
                lambda: client.messages.create(to="+1555", from_=MMS_FROM, body="x"), 400, 21211)

        def media_from_sms_only_number():
            return expect_rest_exception(
                lambda: client.messages.create(to=MMS_TO, from_=SMS_ONLY_FROM,
                                               media_url=[media_base + "/a.png"]), 400, 21621)

        def bad_token():
            bad = Client(ACCOUNT, "not-the-token")
            bad.api.base_url = gateway.base_url
            result = expect_rest_exception(
                lambda: bad.messages.create(to=MMS_TO, from_=MMS_FROM, body="x"), 401, 20003)
            expect_rest_exception(lambda: bad.messages(state["mms"]).fetch(), 401, 20003)
            status, headers, _ = raw(gateway, "GET",
                                     f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", sid=None)
            expect(status == 401 and "www-authenticate" in headers, f"no credentials: {status}")
            return result

        def malformed_form_body():
            request = urllib.request.Request(
                f"{gateway.base_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
                data=b"To=%2B12025550142&From=%2B12025550100&Body=%G1oops", method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "Authorization": "Basic " + base64.b64encode(
                             f"{ACCOUNT}:{TOKEN}".encode()).decode()})
            try:
                urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError as e:
                expect(e.code == 400, f"HTTP {e.code}")
                expect(e.headers["Content-Type"].startswith("application/json"),
                       e.headers["Content-Type"])
                payload = json.loads(e.read())
                expect(set(payload) == {"code", "message", "more_info", "status"}, payload)
                expect(payload["code"] == 21200 and payload["status"] == 400, payload)
                # A trailing '%' too.
                expect_error(raw(gateway, "POST",
                                 f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", body="To=%",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}),
                             400, 21200)
                return payload["message"]
            raise AssertionError("the malformed body was accepted")

        def method_not_allowed():
            status, headers, body = raw(gateway, "PUT",
                                        f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
                                        body="", headers={"Content-Length": "0"})
            expect_error((status, headers, body), 405, 20004)
            expect(headers.get("allow") == "GET, HEAD, POST", headers.get("allow"))
            return headers["allow"]

        def too_large_body():
            status, headers, body = raw(gateway, "POST",
                                        f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
                                        body=b"Body=" + b"x" * (2 * 1024 * 1024),
                                        headers={"Content-Type":
                                                 "application/x-www-form-urlencoded"})
            expect(status == 413, f"HTTP {status}")
            return "413"

        def unknown_resource():
            expect_error(raw(gateway, "GET", f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json"),
                         404, 20404)
            return expect_rest_exception(
                lambda: client.messages("MM00000000000000000000000000000000").fetch(),
                404, 20404)

        def delete_in_flight_and_finished():
            slow = client.messages.create(to=SLOW_TO, from_=MMS_FROM, body="held by the carrier")
            result = expect_rest_exception(lambda: client.messages(slow.sid).delete(), 409, 20009)
            expect(client.messages(slow.sid).fetch().sid == slow.sid, "in-flight message gone")
            media_path = state["media"][0].uri[:-len(".json")]
            expect(client.messages(state["mms"]).media(state["media"][0].sid).delete(),
                   "media delete")
            expect(len(client.messages(state["mms"]).media.list()) == 1, "media list after")
            expect(raw(gateway, "GET", media_path, sid=None)[0] == 404, "deleted media served")
            expect(client.messages(state["mms"]).delete() is True, "delete returned False")
            expect_rest_exception(lambda: client.messages(state["mms"]).fetch(), 404, 20404)
            second = state["media"][1].uri[:-len(".json")]
            expect(raw(gateway, "GET", second, sid=None)[0] == 404, "media of deleted message")
            listed = client.messages.list(to=MMS_TO)
            expect(all(m.sid != state["mms"] for m in listed), "deleted message still listed")
            return result

        def incoming_phone_numbers():
            numbers = client.incoming_phone_numbers.list()
            by_number = {n.phone_number: n for n in numbers}
            expect(set(by_number) == {MMS_FROM, SMS_ONLY_FROM}, sorted(by_number))
            expect(by_number[MMS_FROM].capabilities["mms"] is True,
                   by_number[MMS_FROM].capabilities)
            expect(by_number[SMS_ONLY_FROM].capabilities == {"voice": False, "sms": True,
                                                             "mms": False, "fax": False},
                   by_number[SMS_ONLY_FROM].capabilities)
            created = client.incoming_phone_numbers.create(
                phone_number="+14165550177", sms_url="http://127.0.0.1:9/inbound")
            expect(created.sid.startswith("PN") and created.capabilities["mms"] is True,
                   created.capabilities)
            expect(created.sms_url == "http://127.0.0.1:9/inbound", created.sms_url)
            abroad = client.incoming_phone_numbers.create(phone_number="+447400123456")
            expect(abroad.capabilities["mms"] is False and abroad.capabilities["sms"] is True,
                   abroad.capabilities)
            # The new number sends at once.
            sent = client.messages.create(to=MMS_TO, from_="+14165550177", body="from CA",
                                          media_url=[media_base + "/a.png"])
            expect(sent.sid.startswith("MM"), sent.sid)
            expect_rest_exception(
                lambda: client.incoming_phone_numbers.create(phone_number="+14165550177"),
                400, 21422)
            # Rule 1: MMS on a toll-free number is refused.
            refusal = expect_error(raw(
                gateway, "POST", f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json",
                body="PhoneNumber=%2B18445550177&MmsEnabled=true",
                headers={"Content-Type": "application/x-www-form-urlencoded"}), 400, 21200)
            expect("MMS" in refusal["message"], refusal["message"])
            updated = client.incoming_phone_numbers(abroad.sid).update(
                status_callback="http://127.0.0.1:9/status")
            expect(updated.status_callback == "http://127.0.0.1:9/status", updated.status_callback)
            expect(client.incoming_phone_numbers(abroad.sid).delete() is True, "release")
            expect(len(client.incoming_phone_numbers.list()) == 3, "after release")
            return f"{len(numbers)} listed, provisioned {created.phone_number}"

        def keep_alive_and_concurrency():
            credentials = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
            connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
            sockets = set()
            for _ in range(5):
                connection.request("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
                                   "?PageSize=1", headers={"Authorization": credentials})
                response = connection.getresponse()
                response.read()
                expect(response.status == 200, f"HTTP {response.status}")
                sockets.add(id(connection.sock))
            expect(len(sockets) == 1, "the connection was not kept alive")
            connection.close()

            def one(i):
                return raw(gateway, "POST", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
                           body=f"To=%2B12025550178&From=%2B12065550100&Body=concurrent+{i}",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})[0]

            with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
                statuses = list(pool.map(one, range(200)))
            expect(statuses.count(201) == 200, f"statuses {sorted(set(statuses))}")
            return "5 requests on one connection; 200 creates over 64 connections"

        checks.run("create an MMS with two media URLs", create_mms)
        if "mms" in state:
            checks.run("fetch until delivered", fetch_until_delivered)
            checks.run("list its media", list_media)
            if "media" in state:
                checks.run("media content bytes and types", media_content)
                checks.run("media content under another account: 404", media_content_other_account)
            checks.run("another account cannot see the message", other_account_cannot_see)
            checks.run("DateSent filters", date_sent_filters)
        checks.run("page through 120 messages", page_through_120)
        checks.run("11 media: TwilioRestException 21623 / 400", eleven_media)
        checks.run("invalid To: 21211 / 400", invalid_to)
        checks.run("media from an SMS-only number: 21621 / 400", media_from_sms_only_number)
        checks.run("bad token: TwilioRestException 20003 / 401", bad_token)
        checks.run("malformed form body: 400 JSON", malformed_form_body)
        checks.run("wrong method: 405 with Allow", method_not_allowed)
        checks.run("request over the size cap: 413", too_large_body)
        checks.run("unknown resource or SID: 404 / 20404", unknown_resource)
        if "media" in state:
            checks.run("DELETE: in flight 409 / 20009, finished 204", delete_in_flight_and_finished)
        checks.run("IncomingPhoneNumbers: list, provision, rule 1, update, release",
                   incoming_phone_numbers)
        checks.run("keep-alive and concurrent connections", keep_alive_and_concurrency)
    except Exception as e:  # noqa: BLE001
        checks.failed += 1
        print(f"FAIL setup: {type(e).__name__}: {e}", flush=True)
    finally:
        if gateway is not None:
            code = gateway.stop()
            if code == 0:
                checks.passed += 1
                print("PASS SIGTERM: exit 0", flush=True)
            else:
                checks.failed += 1
                print(f"FAIL SIGTERM: exit {code}\n{gateway.read_log()}", flush=True)
            if checks.failed:
                print("--- mmsgate log (tail) ---\n" + gateway.read_log(), flush=True)
        media_server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed", flush=True)
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
