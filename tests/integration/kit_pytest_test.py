"""The Python test kit (mmsgate_kit.py) used the way a pytest suite uses it: one gateway for the
session, an account per test, statuses awaited through WatchEvents.

Run: MMSGATE_BINARY=build/gateway/mmsgate MMSGATE_PYTHON_PROTO=build/proto/python \
     /usr/bin/python3 -m pytest -q tests/integration/kit_pytest_test.py
"""

import grpc
import pytest

from mmsgate_kit import Gateway, gateway, account  # noqa: F401  (pytest fixtures)


def test_an_sms_from_the_tests_own_account_is_delivered(gateway, account):
    sent = gateway.send(account, to="+12025550142", body="order confirmed")
    assert sent.sid.startswith("SM")
    final = gateway.await_status(account, sent.sid)
    assert final.status == gateway.DELIVERED
    assert final.account_sid == account.sid


def test_an_mms_is_delivered_with_its_media(gateway, account):
    sent = gateway.send(account, to="+12025550143", body="receipt",
                        media=[("text/plain", b"receipt bytes")])
    final = gateway.await_status(account, sent.sid)
    assert final.status == gateway.DELIVERED
    assert len(final.media) == 1


def test_two_tests_accounts_never_see_each_other(gateway, account):
    other = gateway.create_account("another test")
    mine = gateway.send(account, to="+12025550144", body="mine")
    gateway.await_status(account, mine.sid)
    assert [m.sid for m in gateway.list_messages(account)] == [mine.sid]
    assert len(gateway.list_messages(other)) == 0
    with pytest.raises(grpc.RpcError) as refused:
        gateway.get_message(other, mine.sid)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_await_status_gives_up_with_the_last_status_seen(gateway, account):
    sent = gateway.send(account, to="+12025550145", body="waiting")
    with pytest.raises(TimeoutError) as waited:
        gateway.await_status(account, sent.sid, reached=lambda message: False, timeout=2)
    assert "last seen" in str(waited.value)


def test_reset_removes_the_accounts_made_at_run_time():
    own = Gateway()
    try:
        made = own.create_account("short-lived")
        sent = own.send(made, to="+12025550146", body="before the reset")
        own.await_status(made, sent.sid)
        own.reset(made)
        with pytest.raises(grpc.RpcError) as refused:
            own.list_messages(made)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        own.stop()
