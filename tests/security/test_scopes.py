"""Scopes: parsing ACTION[:PATTERN], and what a parsed set allows."""

from __future__ import annotations

import pytest

from naiad.security.scopes import (
    ACTIONS,
    ADMIN,
    EVERYTHING,
    INFER,
    METADATA,
    NONE,
    REPOSITORY,
    SERVER_WIDE,
    STATISTICS,
    Grant,
    Scopes,
)

EXPECTED_ACTIONS = "infer, metadata, statistics, repository, admin"

# (pattern, model, whether the pattern matches the model name), written out by hand.
MATCHES = [
    ("*", "fraud", True),
    ("*", "resnet-1", True),
    ("*", SERVER_WIDE, True),
    ("fraud*", "fraud", True),
    ("fraud*", "fraud-v2", True),
    ("fraud*", "xfraud", False),
    ("fraud*", "Fraud", False),
    ("fraud*", "resnet", False),
    ("fraud*", SERVER_WIDE, False),
    ("resnet-?", "resnet-1", True),
    ("resnet-?", "resnet-10", False),
    ("resnet-?", "resnet-", False),
    ("resnet-?", SERVER_WIDE, False),
    ("[ab]c", "ac", True),
    ("[ab]c", "bc", True),
    ("[ab]c", "cc", False),
    ("exact", "exact", True),
    ("exact", "exact2", False),
    ("exact", SERVER_WIDE, False),
]


def test_actions_are_the_five_groups() -> None:
    assert ACTIONS == (INFER, METADATA, STATISTICS, REPOSITORY, ADMIN)
    assert ACTIONS == ("infer", "metadata", "statistics", "repository", "admin")
    assert SERVER_WIDE == ""


def test_parse_reads_every_form() -> None:
    scopes = Scopes.parse(
        ["infer:fraud*", "metadata", "*", "statistics:resnet-?", "*:fraud*", " admin:x "]
    )
    assert scopes.grants == (
        Grant("infer", "fraud*"),
        Grant("metadata", "*"),
        Grant("*", "*"),
        Grant("statistics", "resnet-?"),
        Grant("*", "fraud*"),
        Grant("admin", "x"),
    )


def test_parse_keeps_everything_after_the_first_colon_as_the_pattern() -> None:
    assert Scopes.parse(["infer:a:b"]).grants == (Grant("infer", "a:b"),)


def test_parse_of_nothing_grants_nothing() -> None:
    scopes = Scopes.parse([])
    assert scopes.grants == ()
    assert not scopes.allows(INFER, "fraud")


def test_parse_lists_every_invalid_scope_together() -> None:
    with pytest.raises(ValueError) as refused:
        Scopes.parse(["infer", "bogus", "infer:", "metadata:m", "", "INFER", "*:", "openid"])
    assert str(refused.value) == (
        "invalid scope(s) 'bogus', 'infer:', '', 'INFER', '*:', 'openid': expected"
        f" ACTION[:PATTERN] with ACTION one of {EXPECTED_ACTIONS} or *"
    )


def test_parse_names_a_single_invalid_scope() -> None:
    with pytest.raises(ValueError) as refused:
        Scopes.parse(["read:fraud"])
    assert str(refused.value) == (
        f"invalid scope(s) 'read:fraud': expected ACTION[:PATTERN] with ACTION one of"
        f" {EXPECTED_ACTIONS} or *"
    )


def test_parse_not_strict_skips_what_does_not_parse() -> None:
    scopes = Scopes.parse(["openid", "infer:fraud*", "profile", "metadata", "email:"], strict=False)
    assert scopes.grants == (Grant("infer", "fraud*"), Grant("metadata", "*"))


def test_parse_not_strict_of_only_foreign_scopes_grants_nothing() -> None:
    scopes = Scopes.parse(["openid", "profile"], strict=False)
    assert scopes.grants == ()
    assert not scopes.grants_any(INFER)


@pytest.mark.parametrize(("pattern", "model", "matches"), MATCHES)
def test_allows_needs_the_action_and_the_pattern(pattern: str, model: str, matches: bool) -> None:
    for granted in (*ACTIONS, "*"):
        scopes = Scopes.parse([f"{granted}:{pattern}"])
        for asked in ACTIONS:
            expected = matches and granted in ("*", asked)
            assert scopes.allows(asked, model) is expected, (granted, asked)
            # The second answer comes from the cache; it must be the same.
            assert scopes.allows(asked, model) is expected, (granted, asked)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_bare_action_covers_every_model_and_the_server(action: str) -> None:
    scopes = Scopes.parse([action])
    for model in ("fraud", "resnet-1", "x" * 200, SERVER_WIDE):
        assert scopes.allows(action, model)
    for other in ACTIONS:
        if other != action:
            assert not scopes.allows(other, "fraud")
            assert not scopes.allows(other, SERVER_WIDE)


def test_server_wide_is_matched_only_by_a_star_pattern() -> None:
    assert Scopes.parse(["admin:*"]).allows(ADMIN, SERVER_WIDE)
    assert Scopes.parse(["*:*"]).allows(ADMIN, SERVER_WIDE)
    assert Scopes.parse(["admin"]).allows(ADMIN, SERVER_WIDE)
    for pattern in ("a*", "?", "[a]", "server", "-"):
        assert not Scopes.parse([f"admin:{pattern}"]).allows(ADMIN, SERVER_WIDE)
        assert not Scopes.parse([f"*:{pattern}"]).allows(REPOSITORY, SERVER_WIDE)


def test_any_one_grant_is_enough() -> None:
    scopes = Scopes.parse(["infer:fraud*", "infer:resnet", "metadata:resnet"])
    assert scopes.allows(INFER, "fraud-a")
    assert scopes.allows(INFER, "resnet")
    assert not scopes.allows(INFER, "bert")
    assert scopes.allows(METADATA, "resnet")
    assert not scopes.allows(METADATA, "fraud-a")


def test_grants_any() -> None:
    scopes = Scopes.parse(["infer:fraud*", "statistics:none-such"])
    assert scopes.grants_any(INFER)
    assert scopes.grants_any(STATISTICS)
    assert not scopes.grants_any(METADATA)
    assert not scopes.grants_any(REPOSITORY)
    assert not scopes.grants_any(ADMIN)
    star = Scopes.parse(["*:fraud*"])
    assert all(star.grants_any(action) for action in ACTIONS)


def test_none_and_everything() -> None:
    for action in ACTIONS:
        assert not NONE.allows(action, "fraud")
        assert not NONE.allows(action, SERVER_WIDE)
        assert not NONE.grants_any(action)
        assert EVERYTHING.allows(action, "fraud")
        assert EVERYTHING.allows(action, SERVER_WIDE)
        assert EVERYTHING.grants_any(action)


def test_answers_stay_right_past_the_cache_limit() -> None:
    scopes = Scopes.parse(["infer:m1*"])
    for number in range(10_000):
        assert scopes.allows(INFER, f"m{number}") is str(number).startswith("1")
    assert scopes.allows(INFER, "m1")
    assert not scopes.allows(INFER, "m2")


def test_repr_lists_the_grants() -> None:
    assert repr(Scopes.parse(["infer:fraud*", "metadata"])) == (
        "Scopes(['infer:fraud*', 'metadata:*'])"
    )
