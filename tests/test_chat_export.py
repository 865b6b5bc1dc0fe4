"""`tap-x-dm-auth xchat-export` against the sandbox's key-backup stand-in."""

from __future__ import annotations

import base64
import io
import stat

import pytest

from tap_x_dm import auth_main
from tap_x_dm.chat import export
from tap_x_dm_sandbox.xchat_backup import WrongPinError
from tests.chat_support import chat_sandbox, xchat_cache

__all__ = ["chat_sandbox", "xchat_cache"]


def run_export(sb, out_path, pin: str) -> tuple[int, str, str, list[str]]:
    prompts: list[str] = []

    def read_pin(prompt: str) -> str:
        prompts.append(prompt)
        return pin

    out, err = io.StringIO(), io.StringIO()
    code = export.main(
        ["--out", str(out_path), "--api-url", sb.base_url],
        environ={"TAP_X_DM_ACCESS_TOKEN": sb.access_token()},
        read_pin=read_pin,
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue(), prompts


def test_the_right_pin_writes_the_blob_to_a_0600_file(chat_sandbox, tmp_path) -> None:
    sb = chat_sandbox()
    pin = sb.xchat.pin(sb.account.id)
    target = tmp_path / "keys.b64"
    code, out, err, prompts = run_export(sb, target, pin)
    assert (code, err) == (0, "")
    assert len(prompts) == 1  # asked once
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    blob = sb.xchat.blob(sb.account.id, "1")
    assert base64.b64decode(target.read_text()) == blob
    assert "20 wrong PINs" in out and "xchat_key_version: 1" in out
    assert pin not in out and base64.b64encode(blob).decode() not in out
    recover = [e for e in sb.request_log if e["path"] == "/sandbox/juicebox/recover"]
    assert len(recover) == 1


def test_a_wrong_pin_writes_nothing_and_says_how_many_guesses_remain(
    chat_sandbox, tmp_path
) -> None:
    sb = chat_sandbox()
    right = sb.xchat.pin(sb.account.id)
    wrong = "0000" if right != "0000" else "1111"
    target = tmp_path / "keys.b64"
    code, out, err, _ = run_export(sb, target, wrong)
    assert code == 1 and not target.exists()
    assert "19 guess(es) remain" in err
    assert wrong not in err + out
    assert sb.xchat.key_backup.guesses_remaining(sb.account.id) == 19
    code, _, _, _ = run_export(sb, target, right)
    assert code == 0 and target.exists()


def test_after_20_wrong_pins_the_backup_is_gone(chat_sandbox, tmp_path) -> None:
    sb = chat_sandbox()
    right = sb.xchat.pin(sb.account.id)
    wrong = "0000" if right != "0000" else "1111"
    assert run_export(sb, tmp_path / "k", wrong)[0] == 1
    for _ in range(19):  # the rest straight at the stand-in (users/me has a rate limit)
        with pytest.raises(WrongPinError):
            sb.xchat.key_backup.recover(sb.account.id, wrong)
    code, _, err, _ = run_export(sb, tmp_path / "k", right)
    assert code == 1 and "gone" in err and not (tmp_path / "k").exists()


def test_an_existing_file_is_never_overwritten(chat_sandbox, tmp_path) -> None:
    sb = chat_sandbox()
    target = tmp_path / "keys.b64"
    target.write_text("precious")
    err = io.StringIO()
    code = auth_main(
        ["xchat-export", "--out", str(target), "--api-url", sb.base_url],
        environ={"TAP_X_DM_ACCESS_TOKEN": sb.access_token()},
        out=io.StringIO(),
        err=err,
    )
    assert code == 1 and "exists" in err.getvalue() and target.read_text() == "precious"
    assert not [e for e in sb.request_log if e["path"] == "/sandbox/juicebox/recover"]


def test_an_out_path_under_an_unknown_users_home_is_one_line() -> None:
    err = io.StringIO()
    code = auth_main(
        ["xchat-export", "--out", "~nosuchuserzz/keys.b64"],
        environ={"TAP_X_DM_ACCESS_TOKEN": "unused"},
        out=io.StringIO(),
        err=err,
    )
    assert code == 1
    assert err.getvalue() == (
        "tap-x-dm-auth xchat-export: --out ~nosuchuserzz/keys.b64: nosuchuserzz is not a user "
        "of this machine, so ~nosuchuserzz cannot be expanded; write the path in full.\n"
    )
