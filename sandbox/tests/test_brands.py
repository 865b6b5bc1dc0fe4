"""`--brands K`: brand accounts with inboxes, grants and budgets of their own; faults that clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox_helpers import get, pinned_clock
from tap_x_dm_sandbox import Sandbox, SandboxConfig
from tap_x_dm_sandbox.cli import main


def fleet(tmp_path: Path, **overrides: object) -> tuple[Sandbox, dict[str, object]]:
    clock = pinned_clock()
    config = SandboxConfig(
        users=10,
        conversations=20,
        events=200,
        brands=3,
        brand_events=120,
        brands_file=str(tmp_path / "brands.json"),
        rate_limit=2,
        rate_window=60.0,
        **overrides,  # type: ignore[arg-type]
    )
    sandbox = Sandbox(config, clock=clock).start()
    return sandbox, json.loads((tmp_path / "brands.json").read_text())


def test_each_brand_reads_its_own_inbox_with_its_own_token_and_budget(tmp_path: Path) -> None:
    sb, document = fleet(tmp_path)
    with sb:
        brands = document["brands"]
        assert [b["name"] for b in brands] == ["brand-001", "brand-002", "brand-003"]
        assert document["base_url"] == sb.base_url
        assert (tmp_path / "brands.json").stat().st_mode & 0o777 == 0o600
        ids = {b["account_id"] for b in brands}
        assert len(ids) == 3 and sb.account.id not in ids
        seen: list[set[str]] = []
        for brand in brands:
            me = get(sb, "/2/users/me", brand["access_token"]).json()["data"]
            assert (me["id"], me["username"]) == (brand["account_id"], brand["username"])
            page = get(sb, "/2/dm_events", brand["access_token"], max_results=100)
            assert page.status_code == 200
            seen.append({e["id"] for e in page.json()["data"]})
            assert len(seen[-1]) == min(100, brand["dm_events"])
            # Its own budget: 2 per window, the account's and other brands' untouched.
            statuses = [get(sb, "/2/dm_events", brand["access_token"]).status_code for _ in "ab"]
            assert statuses == [200, 429]
        assert not seen[0] & seen[1] and not seen[1] & seen[2]
        assert get(sb, "/2/dm_events").status_code == 200  # the default account's budget


def test_revoked_brand_is_refused_and_the_others_are_not(tmp_path: Path) -> None:
    sb, document = fleet(tmp_path, revoked_brands=1)
    with sb:
        first, second = document["brands"][:2]
        assert (first["revoked"], second["revoked"]) == (True, False)
        assert get(sb, "/2/dm_events", first["access_token"]).status_code == 401
        assert get(sb, "/2/dm_events", second["access_token"]).status_code == 200


def test_usage_cap_and_credits_clear_after_their_window(tmp_path: Path) -> None:
    sb, document = fleet(tmp_path, usage_capped_between=(10.0, 20.0))
    clock = sb.clock
    token = document["brands"][1]["access_token"]
    with sb:
        assert get(sb, "/2/users/me", token).status_code == 200
        clock.advance(10.0)  # type: ignore[attr-defined]
        capped = get(sb, "/2/users/me", token)
        assert capped.status_code == 429 and capped.json()["type"].endswith("usage-capped")
        assert get(sb, "/2/users/me").status_code == 429  # app-wide: the default account too
        clock.advance(10.0)  # type: ignore[attr-defined]
        assert get(sb, "/2/users/me", token).status_code == 200


def test_credits_depleted_between(tmp_path: Path) -> None:
    sb, _ = fleet(tmp_path, credits_depleted_between=(0.0, 5.0))
    with sb:
        assert get(sb, "/2/users/me").status_code == 402
        sb.clock.advance(5.0)  # type: ignore[attr-defined]
        assert get(sb, "/2/users/me").status_code == 200


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--brands", "2"], "--brands needs --brands-file"),
        (["--brands", "1", "--brands-file", "x", "--revoked-brands", "2"], "is more than"),
        (["--usage-capped-between", "9,3"], "expected 0 <= START < END"),
    ],
)
def test_bad_fleet_flags_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
