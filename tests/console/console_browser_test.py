"""The web console driven in a real browser (Debian chromium + chromium-driver, python3-selenium),
headless, against the real mmsgate binary on port 0 (docs/console.md).

Each test does what a person would: sign in with the form, watch rows arrive, open a handset,
press a carrier's fault button. Screenshots of every page go to MMSGATE_SCREENSHOTS (the build
tree), from where docs/console.md's pictures were taken.
"""

import http.server
import json
import os
import threading
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from mmsgate_kit import Gateway, accounts_pb2, message_pb2, simulator_pb2  # noqa: E402
from mmsgate.v1 import scenario_pb2  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (NoAlertPresentException,  # noqa: E402
                                        StaleElementReferenceException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

# Give-up limits only: every wait below ends as soon as its condition holds.
WAIT = 60
MMS_HANDSET = "+12025550142"      # northwind: takes MMS
NO_MMS_HANDSET = "+12065550143"   # pinecone: no MMS, so an MMS becomes SMS + link
OUTAGE_CARRIER = "tundra"         # no other test routes to it
HOSTILE_BODY = "<img src=x onerror=alert(1)> and <script>window.__pwned=1</script>"


def png(width, height, rgb):
    """A small solid-colour PNG, made without an imaging library."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


IMAGE = png(120, 80, (220, 60, 40))


@pytest.fixture(scope="module")
def gateway():
    running = Gateway()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def alice(gateway):
    return gateway.create_account("Alice's shop")


@pytest.fixture(scope="module")
def bob(gateway):
    return gateway.create_account("Bob's clinic")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1440,1000", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


def base(gateway):
    return "http://" + gateway.http_address


def screenshot(driver, name, show=None):
    """Saves the page (scrolled to the top, or to the element matching `show`)."""
    folder = os.environ.get("MMSGATE_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        driver.execute_script("const e = arguments[0] && document.querySelector(arguments[0]);"
                              "if (e) e.scrollIntoView({block: 'center'}); else window.scrollTo(0, 0)", show)
        time.sleep(0.3)  # let a just-drawn row finish its highlight before the picture
        driver.save_screenshot(os.path.join(folder, name + ".png"))


def wait_for(driver, condition, what):
    # Live pages redraw rows and bubbles as events arrive: an element found a moment ago may be
    # gone, so a condition that meets a stale one is simply asked again.
    return WebDriverWait(driver, WAIT, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d), message="waited for " + what)


def text_of(driver, selector):
    """The text of the first element matching `selector` now (None if there is none)."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e && e.innerText", selector)


def sids_shown(driver, selector="[data-sid]"):
    return set(driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset.sid)", selector))


def loaded_width(driver, selector):
    """naturalWidth of the first loaded image matching `selector`, 0 while none has loaded."""
    return driver.execute_script(
        "const i = [...document.querySelectorAll(arguments[0])]"
        ".find(i => i.complete && i.naturalWidth > 0); return i ? i.naturalWidth : 0", selector)


def signed_in(driver):
    path = urllib.parse.urlparse(driver.current_url).path
    return path.startswith("/console") and not path.startswith("/console/login")


def sign_out(driver, gateway):
    """Drops the session cookie from a page without scripts: the last console page's scripts (the
    Carriers page polls every second) would otherwise see the session go and send the browser to
    the sign-in form on their own, racing the test's navigation. Cookies belong to the host, so
    this clears them for every gateway on 127.0.0.1."""
    driver.get(base(gateway) + "/healthz")
    driver.delete_all_cookies()


def sign_in(driver, gateway, account):
    sign_out(driver, gateway)
    driver.get(base(gateway) + "/")
    wait_for(driver, lambda d: "/console/login" in d.current_url, "the sign-in form")
    driver.find_element(By.NAME, "account_sid").send_keys(account.sid)
    driver.find_element(By.NAME, "auth_token").send_keys(account.auth_token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: d.current_url.rstrip("/").endswith("/console"), "the console")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "table.messages tbody tr"),
             "the messages table")


def sign_in_with_admin_token(driver, gateway, account, admin_token):
    sign_out(driver, gateway)
    driver.get(base(gateway) + "/console/login")
    driver.find_element(By.NAME, "account_sid").send_keys(account.sid)
    driver.find_element(By.NAME, "auth_token").send_keys(account.auth_token)
    driver.find_element(By.NAME, "admin_token").send_keys(admin_token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, signed_in, "the console")


def open_page(driver, gateway, path):
    driver.get(base(gateway) + path)


def send_mms(gateway, account, to, body):
    return gateway.send(account, to=to, body=body, media=[("image/png", IMAGE)])


def rpc(gateway, method, request, response_type, account):
    return gateway._unary(method, request, response_type, account.metadata())


# ---- sign-in ------------------------------------------------------------------------------

def test_sign_in_sets_a_strict_http_only_session_cookie(gateway, alice, browser):
    sign_out(browser, gateway)
    open_page(browser, gateway, "/console/login")
    fields = browser.find_elements(By.CSS_SELECTOR, "form input")
    assert [f.get_attribute("name") for f in fields][:2] == ["account_sid", "auth_token"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "form button, form input[type=submit]")) == 1
    screenshot(browser, "login")

    # A wrong token is refused with the code and what to do, and no session.
    browser.find_element(By.NAME, "account_sid").send_keys(alice.sid)
    browser.find_element(By.NAME, "auth_token").send_keys("not-the-token")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    error = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".error").text, "an error")
    assert error.startswith("20003:")
    assert browser.get_cookies() == []

    sign_in(browser, gateway, alice)
    cookies = browser.get_cookies()
    assert len(cookies) == 1
    cookie = cookies[0]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert "expiry" in cookie and cookie["expiry"] > time.time()
    assert len(cookie["value"]) == 64  # 256 random bits
    assert browser.execute_script("return document.cookie") == ""  # not readable by scripts


def test_state_changes_need_the_csrf_token(gateway, alice):
    # Signed in over plain HTTP, as a script on another site would be (with the cookie).
    form = urllib.parse.urlencode({"account_sid": alice.sid, "auth_token": alice.auth_token})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(base(gateway) + "/console/login", data=form.encode())
        raise AssertionError("sign-in should answer 303")
    except urllib.error.HTTPError as answer:
        assert answer.code == 303
        set_cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Max-Age=" in set_cookie
    cookie = set_cookie.split(";")[0]
    send = json.dumps({"from": alice.number, "to": MMS_HANDSET, "body": "forged"}).encode()
    request = urllib.request.Request(base(gateway) + "/console/api/rpc/Messaging/SendMessage",
                                     data=send, headers={"Cookie": cookie,
                                                         "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403
    assert json.load(refused.value)["code"] == 20403
    assert not any(m.body == "forged" for m in gateway.list_messages(alice))

    # With the session's token the same call is made.
    with urllib.request.urlopen(urllib.request.Request(
            base(gateway) + "/console/api/session", headers={"Cookie": cookie})) as answer:
        token = json.load(answer)["csrf_token"]
    request.add_header("X-CSRF-Token", token)
    with urllib.request.urlopen(request) as answer:
        sent = json.load(answer)
    assert sent["sid"].startswith("SM") and sent["body"] == "forged"

    # Signing out ends the session: the cookie no longer opens anything.
    logout = urllib.request.Request(base(gateway) + "/console/logout", data=b"",
                                    headers={"Cookie": cookie, "X-CSRF-Token": token})
    with urllib.request.urlopen(logout) as answer:
        assert "Max-Age=0" in answer.headers["Set-Cookie"]
    with pytest.raises(urllib.error.HTTPError) as signed_out:
        urllib.request.urlopen(request)
    assert signed_out.value.code == 401 and json.load(signed_out.value)["code"] == 20003


def test_without_a_session_pages_lead_to_the_sign_in_form(gateway):
    opener = urllib.request.build_opener(NoRedirect)
    for path, location in (("/", "/console/"),
                           ("/console/handsets/%2B12025550142",
                            "/console/login?next=%2Fconsole%2Fhandsets%2F%252B12025550142")):
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(base(gateway) + path)
        assert answer.value.code == 303 and answer.value.headers["Location"] == location
    for path in ("/console/api/session", "/console/api/events", "/console/media/MM1/ME1"):
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(base(gateway) + path)
        assert answer.value.code == 401 and json.load(answer.value)["code"] == 20003


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# ---- messages -----------------------------------------------------------------------------

def test_an_mms_sent_over_grpc_appears_without_a_reload(gateway, alice, browser):
    sign_in(browser, gateway, alice)
    browser.execute_script("window.__sameDocument = 'yes'")
    sent = send_mms(gateway, alice, MMS_HANDSET, "Your order shipped: picture attached")
    row = f'tr[data-sid="{sent.sid}"]'
    text = wait_for(browser, lambda d: text_of(d, row), "the new row")
    assert browser.execute_script("return window.__sameDocument") == "yes"  # no reload happened
    assert "MMS" in text and sent.to in text
    gateway.await_status(alice, sent.sid)
    wait_for(browser, lambda d: "delivered" in (text_of(d, row + " .status") or ""),
             "delivered in the row")
    assert browser.execute_script("return window.__sameDocument") == "yes"
    screenshot(browser, "messages")


def test_the_handset_shows_the_mms_image_loaded(gateway, alice, browser):
    sent = send_mms(gateway, alice, MMS_HANDSET, "A picture for the handset")
    assert gateway.await_status(alice, sent.sid).status == message_pb2.DELIVERED
    sign_in(browser, gateway, alice)
    open_page(browser, gateway, "/console/handsets/" + urllib.parse.quote(MMS_HANDSET, safe=""))
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'.thread[data-number="{MMS_HANDSET}"]'),
             "the handset's thread")
    image = f'.bubble[data-sid="{sent.sid}"] img'
    assert wait_for(browser, lambda d: loaded_width(d, image), "the image to load") == 120
    src = browser.execute_script("return document.querySelector(arguments[0]).src", image)
    assert src.startswith(base(gateway) + "/console/media/")
    screenshot(browser, "handset")


def test_an_mms_to_a_carrier_without_mms_shows_a_clickable_link(gateway, alice, browser):
    sent = send_mms(gateway, alice, NO_MMS_HANDSET, "Receipt")
    final = gateway.await_status(alice, sent.sid)
    assert final.delivered_as == message_pb2.SMS_WITH_LINK
    sign_in(browser, gateway, alice)
    open_page(browser, gateway, "/console/handsets/" + urllib.parse.quote(NO_MMS_HANDSET, safe=""))
    link = f'.bubble[data-sid="{sent.sid}"] a'
    href = wait_for(browser, lambda d: d.execute_script(
        "const a = document.querySelector(arguments[0]); return a && a.href", link), "the link")
    assert href == final.link_url
    assert text_of(browser, link) == final.link_url
    with urllib.request.urlopen(final.link_url) as answer:
        assert answer.status == 200
        served = answer.read()
        kind = answer.headers["Content-Type"]
    assert kind.startswith("image/") or b"<img" in served
    # Clicking it opens the media in the browser.
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, link).click() or True, "a click")
    wait_for(browser, lambda d: len(d.window_handles) == 2, "the link's tab")
    browser.switch_to.window(browser.window_handles[1])
    wait_for(browser, lambda d: d.current_url == final.link_url, "the media page")
    browser.close()
    browser.switch_to.window(browser.window_handles[0])

    open_page(browser, gateway, "/console/messages/" + sent.sid)
    detail = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".message-detail"),
                      "the message's detail")[0]
    assert "the destination carrier does not take MMS" in detail.text
    assert "as SMS with a link to its media" in detail.text
    wait_for(browser, lambda d: loaded_width(d, ".media-list img"), "the thumbnail")
    assert "image/png" in detail.text
    screenshot(browser, "message-detail")


# ---- carriers -----------------------------------------------------------------------------

def test_an_outage_started_from_the_carriers_page_is_reported_by_list_carriers(
        gateway, alice, browser):
    sign_in(browser, gateway, alice)
    open_page(browser, gateway, "/console/carriers")
    card = wait_for(browser, lambda d: d.find_elements(
        By.CSS_SELECTOR, f'.carrier[data-carrier="{OUTAGE_CARRIER}"]'), "the carrier card")[0]
    Select(card.find_element(By.NAME, "kind")).select_by_value("OUTAGE")
    seconds = card.find_element(By.NAME, "duration")
    seconds.clear()
    seconds.send_keys("600")
    card.find_element(By.CSS_SELECTOR, "button.start-fault").click()

    def reported(_):
        carriers = rpc(gateway, "/mmsgate.v1.Simulator/ListCarriers",
                       simulator_pb2.ListCarriersRequest(), simulator_pb2.ListCarriersResponse,
                       alice).carriers
        state = next(c for c in carriers if c.carrier.id == OUTAGE_CARRIER)
        return [f for f in state.faults if f.fault.kind == f.fault.OUTAGE]
    faults = wait_for(browser, reported, "ListCarriers to report the outage")
    assert 0 < faults[0].remaining_seconds <= 600
    wait_for(browser, lambda d: card.find_elements(By.CSS_SELECTOR, '.fault[data-fault="OUTAGE"]'),
             "the outage on the card")
    screenshot(browser, "carriers", show=f'.carrier[data-carrier="{OUTAGE_CARRIER}"]')


# ---- accounts and escaping ------------------------------------------------------------------

def test_numbers_and_account_page(gateway, alice, browser):
    sign_in(browser, gateway, alice)
    open_page(browser, gateway, "/console/numbers")
    row = wait_for(browser, lambda d: d.find_elements(
        By.CSS_SELECTOR, f'table.numbers tr[data-number="{alice.number}"]'), "the number")[0]
    assert "yes" in row.text  # SMS and MMS
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.usage tbody tr"), "usage")
    screenshot(browser, "numbers")


def test_a_second_account_sees_none_of_the_first_accounts_messages(gateway, alice, bob, browser):
    sent = send_mms(gateway, alice, MMS_HANDSET, "only for Alice")
    gateway.await_status(alice, sent.sid)
    alice_sids = {m.sid for m in gateway.list_messages(alice)}
    assert sent.sid in alice_sids
    mine = gateway.send(bob, to=MMS_HANDSET, body="Bob's own")

    sign_in(browser, gateway, bob)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-sid="{mine.sid}"]'),
             "Bob's own row")
    shown = sids_shown(browser)
    assert shown == {mine.sid}
    assert not shown & alice_sids

    # Neither Alice's message page nor her media answer Bob.
    open_page(browser, gateway, "/console/messages/" + sent.sid)
    error = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#view .error"),
                     "the refusal")[0]
    assert error.text.startswith("20404:")
    media_sid = gateway.get_message(alice, sent.sid).media[0].sid
    status = browser.execute_script(
        "return fetch(arguments[0]).then(r => r.status)", f"/console/media/{sent.sid}/{media_sid}")
    assert status == 404

    # The shared handset shows Bob only his own bubble, not Alice's.
    open_page(browser, gateway, "/console/handsets/" + urllib.parse.quote(MMS_HANDSET, safe=""))
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'.bubble[data-sid="{mine.sid}"]')
             or d.find_elements(By.CSS_SELECTOR, ".thread, .threads p"), "the handset")
    assert not sids_shown(browser, ".bubble") & alice_sids


def test_a_hostile_body_is_shown_as_text(gateway, alice, browser):
    sign_in(browser, gateway, alice)
    sent = gateway.send(alice, to=MMS_HANDSET, body=HOSTILE_BODY)
    text = wait_for(browser, lambda d: text_of(d, f'tr[data-sid="{sent.sid}"]'), "the row")
    assert HOSTILE_BODY[:60] in text

    def no_injection():
        assert browser.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
        assert browser.find_elements(By.XPATH, "//script[contains(., '__pwned')]") == []
        assert browser.execute_script("return window.__pwned") is None
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text
    no_injection()

    gateway.await_status(alice, sent.sid)
    open_page(browser, gateway, "/console/messages/" + sent.sid)
    body = wait_for(browser, lambda d: text_of(d, "pre.body"), "the body")
    assert body == HOSTILE_BODY
    no_injection()

    open_page(browser, gateway, "/console/handsets/" + urllib.parse.quote(MMS_HANDSET, safe=""))
    bubble = wait_for(browser, lambda d: text_of(d, f'.bubble[data-sid="{sent.sid}"]'), "the bubble")
    assert HOSTILE_BODY in bubble
    no_injection()


# ---- webhooks, the handset's compose box, the admin token -------------------------------------

def answering(status, content_type, body):
    """An HTTP handler class that answers every POST with `status` and `body`."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    return Handler


# A status-callback endpoint that fails, with markup in its answer.
FailingCallbackServer = answering(500, "text/html", b"<b>callback broke</b>")
# An sms_url that answers every inbound message with one TwiML reply.
TwimlReplyServer = answering(200, "text/xml",
                             b"<Response><Message>Thanks, we got it</Message></Response>")


def test_the_detail_shows_each_status_callback_attempt_with_its_form_fields(
        gateway, alice, browser):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailingCallbackServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/status"
        sent = gateway.send(alice, to=MMS_HANDSET, body="with a callback", status_callback=url)
        gateway.await_status(alice, sent.sid)
        deadline = time.time() + WAIT
        while not any(a.http_status == 500 and a.reported_status == message_pb2.DELIVERED
                      for a in gateway.get_message(alice, sent.sid).webhook_attempts):
            assert time.time() < deadline, "no status callback attempt was recorded"
            time.sleep(0.1)
    finally:
        server.shutdown()

    sign_in(browser, gateway, alice)
    open_page(browser, gateway, "/console/messages/" + sent.sid)
    rows = wait_for(browser, lambda d: d.find_elements(
        By.XPATH, "//tr[td[contains(., 'status callback (delivered)')]]"), "the attempt")
    row = rows[0]
    cells = [td.text for td in row.find_elements(By.XPATH, "./td")]
    assert cells[1] == url and cells[3] == "500" and cells[4].endswith("ms")
    row.find_element(By.TAG_NAME, "summary").click()
    fields = dict(tuple(td.text for td in tr.find_elements(By.TAG_NAME, "td"))
                  for tr in row.find_elements(By.CSS_SELECTOR, "table.fields tr"))
    assert fields["MessageSid"] == sent.sid
    assert fields["MessageStatus"] == "delivered"
    assert fields["To"] == MMS_HANDSET
    screenshot(browser, "message-webhooks", show=".attempts")


def test_the_compose_box_sends_from_the_handset(gateway, alice, browser, tmp_path):
    sign_in(browser, gateway, alice)
    phone = "+12025550177"
    open_page(browser, gateway, "/console/handsets/" + urllib.parse.quote(phone, safe=""))
    form = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "form.compose"),
                    "the compose box")[0]
    Select(form.find_element(By.NAME, "to")).select_by_value(alice.number)
    form.find_element(By.NAME, "body").send_keys("Hello from the phone")
    picture = tmp_path / "from-phone.png"
    picture.write_bytes(IMAGE)
    form.find_element(By.NAME, "attachments").send_keys(str(picture))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def received(_):
        return [m for m in gateway.list_messages(alice)
                if getattr(m, "from") == phone and m.body == "Hello from the phone"]
    inbound = wait_for(browser, received, "the inbound message")[0]
    assert inbound.direction == message_pb2.INBOUND and inbound.num_media == 1
    wait_for(browser, lambda d: loaded_width(d, f'.bubble.out[data-sid="{inbound.sid}"] img'),
             "the sent bubble with its picture")


def test_carrier_controls_follow_the_admin_token_rule(browser):
    guarded = Gateway(admin_token="console-admin-secret")
    try:
        operator = guarded.create_account("operator")

        def start_outage():
            open_page(browser, guarded, "/console/carriers")
            card = wait_for(browser, lambda d: d.find_elements(
                By.CSS_SELECTOR, f'.carrier[data-carrier="{OUTAGE_CARRIER}"]'), "the card")[0]
            card.find_element(By.CSS_SELECTOR, "button.start-fault").click()
            return card

        sign_in(browser, guarded, operator)
        start_outage()
        refusal = wait_for(browser, lambda d: [t.text for t in d.find_elements(
            By.CSS_SELECTOR, "#toast .msg.bad")], "the refusal")[0]
        assert refusal.startswith("20003:") and "admin" in refusal
        assert not fault_kinds(guarded, operator)

        # Signed in with the admin token, the same button works.
        sign_in_with_admin_token(browser, guarded, operator, "console-admin-secret")
        card = start_outage()
        wait_for(browser, lambda d: card.find_elements(By.CSS_SELECTOR, ".fault"), "the fault")
        assert fault_kinds(guarded, operator) == [1]  # OUTAGE
    finally:
        guarded.stop()


def fault_kinds(gateway, account):
    metadata = account.metadata() + (("x-admin-token", gateway.admin_token),)
    carriers = gateway._unary("/mmsgate.v1.Simulator/ListCarriers",
                              simulator_pb2.ListCarriersRequest(),
                              simulator_pb2.ListCarriersResponse, metadata).carriers
    state = next(c for c in carriers if c.carrier.id == OUTAGE_CARRIER)
    return [f.fault.kind for f in state.faults]


# ---- TwiML replies, carrier edits, account settings ------------------------------------------

def test_a_twiml_reply_links_to_the_inbound_message_it_answers(gateway, browser):
    shop = gateway.create_account("TwiML shop")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TwimlReplyServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rpc(gateway, "/mmsgate.v1.Accounts/UpdateNumber",
            accounts_pb2.UpdateNumberRequest(
                number=shop.number, sms_url=f"http://127.0.0.1:{server.server_port}/sms"),
            scenario_pb2.Number, shop)
        inbound = rpc(gateway, "/mmsgate.v1.Simulator/SendFromHandset",
                      simulator_pb2.HandsetSend(**{"from": "+12025550188", "to": shop.number,
                                                   "body": "is it in stock?"}),
                      message_pb2.Message, shop)

        def reply(_):
            return [m for m in gateway.list_messages(shop)
                    if m.direction == message_pb2.OUTBOUND_REPLY and m.reply_to_sid == inbound.sid]
        answer = wait_for(browser, reply, "the TwiML reply")[0]
    finally:
        server.shutdown()

    sign_in(browser, gateway, shop)
    open_page(browser, gateway, "/console/messages/" + answer.sid)
    link = wait_for(browser, lambda d: d.find_elements(
        By.XPATH, f"//dd/a[text()='{inbound.sid}']"), "the link to the inbound message")[0]
    link.click()
    wait_for(browser, lambda d: d.current_url.endswith("/console/messages/" + inbound.sid),
             "the inbound message's page")
    assert wait_for(browser, lambda d: text_of(d, "pre.body"), "its body") == "is it in stock?"


def test_a_carrier_edit_from_the_carriers_page_changes_the_carrier(gateway, alice, browser):
    sign_in(browser, gateway, alice)
    open_page(browser, gateway, "/console/carriers")
    card = wait_for(browser, lambda d: d.find_elements(
        By.CSS_SELECTOR, '.carrier[data-carrier="albion"]'), "the carrier card")[0]
    for name, value in (("max_mps", "42"), ("median_ms", "250"), ("p99_ms", "900")):
        field = card.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    card.find_element(By.CSS_SELECTOR, "button.save-carrier").click()

    def changed(_):
        carriers = rpc(gateway, "/mmsgate.v1.Simulator/ListCarriers",
                       simulator_pb2.ListCarriersRequest(), simulator_pb2.ListCarriersResponse,
                       alice).carriers
        albion = next(c.carrier for c in carriers if c.carrier.id == "albion")
        return (albion.max_mps, albion.latency.median_ms, albion.latency.p99_ms) == (42, 250, 900)
    wait_for(browser, changed, "ListCarriers to report the edit")


def test_account_settings_are_saved_from_the_numbers_page(gateway, browser):
    owner = gateway.create_account("settings")
    sign_in(browser, gateway, owner)
    open_page(browser, gateway, "/console/numbers")
    box = wait_for(browser, lambda d: d.find_elements(
        By.NAME, "disable_international_mms_conversion"), "the setting")[0]
    assert not box.is_selected()
    box.click()
    browser.find_element(By.CSS_SELECTOR, "form.settings button[type=submit]").click()

    def saved(_):
        account = rpc(gateway, "/mmsgate.v1.Accounts/GetAccount", accounts_pb2.GetAccountRequest(),
                      scenario_pb2.Account, owner)
        return account.settings.disable_international_mms_conversion
    wait_for(browser, saved, "GetAccount to report the setting")
