"""Unit tests of the ssm_secret logic: generation, the plan, the diff (no AWS)."""

from __future__ import annotations

import re
import string

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _secret

FORBIDDEN = set("'\"`\\; $%^&|!,=<>()[]{}*?#@/:+\t\n")


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("length", [16, 32, 64, 128])
def test_validate_length_accepts(length):
    assert _secret.validate_length(length) == length


@pytest.mark.parametrize(
    ("length", "message"),
    [
        (15, "length must be between 16 and 128, got 15"),
        (129, "length must be between 16 and 128, got 129"),
        (0, "length must be between 16 and 128, got 0"),
        (-5, "length must be between 16 and 128, got -5"),
        (True, "length must be a whole number between 16 and 128, got True"),
        ("32", "length must be a whole number between 16 and 128, got '32'"),
    ],
)
def test_validate_length_rejects(length, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        _secret.validate_length(length)


def test_unknown_charset_names_the_option():
    with pytest.raises(ValueError, match="charset must be one of alnum, alnum_symbols, hex, got 'emoji'"):
        _secret.charset_alphabet("emoji")


# ---------------------------------------------------------------- charsets and generation
@pytest.mark.parametrize(
    ("charset", "alphabet"),
    [
        ("alnum", set(string.ascii_letters + string.digits)),
        ("alnum_symbols", set(string.ascii_letters + string.digits + "-._~")),
        ("hex", set("0123456789abcdef")),
    ],
)
def test_charset_alphabet(charset, alphabet):
    assert set(_secret.charset_alphabet(charset)) == alphabet


def test_safe_symbols_avoid_quoting_trouble():
    assert not set(_secret.SAFE_SYMBOLS) & FORBIDDEN


@pytest.mark.parametrize("charset", ["alnum", "alnum_symbols", "hex"])
@pytest.mark.parametrize("length", [16, 17, 32, 128])
def test_generate_secret_shape(charset, length):
    alphabet = set(_secret.charset_alphabet(charset))
    for _attempt in range(200):
        value = _secret.generate_secret(length, charset)
        assert len(value) == length
        assert set(value) <= alphabet
        for cls in _secret.CHARSETS[charset]:
            assert set(value) & set(cls), f"{value!r} lacks a character of {cls!r}"
        if charset != "hex":
            assert value[0].isalpha()
        assert not set(value) & FORBIDDEN


def test_generate_secret_defaults():
    value = _secret.generate_secret()
    assert len(value) == 32
    assert set(value) <= set(_secret.charset_alphabet("alnum_symbols"))


def test_generate_secret_is_random():
    values = {_secret.generate_secret(16, "alnum") for _attempt in range(500)}
    assert len(values) == 500


@pytest.mark.parametrize("length", [8, 200])
def test_generate_secret_rejects_length(length):
    with pytest.raises(ValueError, match="length must be between 16 and 128"):
        _secret.generate_secret(length)


# ---------------------------------------------------------------- KMS key comparison
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1111"
OTHER_ARN = "arn:aws:kms:us-east-1:123456789012:key/2222"
RESOLVE = {
    "alias/hpc": KEY_ARN,
    "1111": KEY_ARN,
    KEY_ARN: KEY_ARN,
    "alias/other": OTHER_ARN,
    OTHER_ARN: OTHER_ARN,
}


@pytest.mark.parametrize(
    ("current", "desired", "expected"),
    [
        ("alias/hpc", "alias/hpc", True),
        ("alias/hpc", KEY_ARN, True),
        ("1111", "alias/hpc", True),
        (KEY_ARN, "1111", True),
        ("alias/hpc", "alias/other", False),
        ("alias/aws/ssm", "alias/hpc", False),  # current key unknown to KMS
        ("alias/hpc", "alias/missing", False),  # desired key unknown to KMS
        (None, "alias/hpc", False),
    ],
)
def test_same_kms_key(current, desired, expected):
    assert _secret.same_kms_key(current, desired, RESOLVE.get) is expected


def test_same_kms_key_skips_lookup_for_equal_strings():
    def resolve(ref):
        raise AssertionError(f"looked up {ref}")

    assert _secret.same_kms_key("alias/hpc", "alias/hpc", resolve)


# ---------------------------------------------------------------- tags
@pytest.mark.parametrize(
    ("current", "desired", "purge", "to_set", "to_unset"),
    [
        ({"a": "1"}, None, True, {}, []),
        ({"a": "1"}, {"a": "1"}, False, {}, []),
        ({"a": "1"}, {"a": "2"}, False, {"a": "2"}, []),
        ({"a": "1", "b": "2"}, {"a": "1"}, False, {}, []),
        ({"a": "1", "b": "2"}, {"a": "1"}, True, {}, ["b"]),
        ({}, {"Name": "x"}, True, {"Name": "x"}, []),
        ({"C": "1", "b": "2"}, {}, True, {}, ["C", "b"]),
        (None, {"a": "1"}, False, {"a": "1"}, []),
    ],
)
def test_tag_changes(current, desired, purge, to_set, to_unset):
    assert _secret.tag_changes(current, desired, purge) == (to_set, to_unset)


# ---------------------------------------------------------------- the plan
NAME = "/sql-server/service-account/password"
SECURE = {"type": "SecureString", "key_id": "alias/hpc", "tags": {"hpc:cluster": "prod"}, "version": 3,
          "arn": "arn:aws:ssm:us-east-1:123456789012:parameter" + NAME}


def opts(key_matches, tags, purge_tags):
    return {"key_matches": key_matches, "tags": tags, "purge_tags": purge_tags}


@pytest.mark.parametrize(
    ("state", "current", "options", "actions", "changed"),
    [
        ("present", None, opts(True, None, False), ["create"], True),
        ("present", None, opts(True, {"a": "b"}, False), ["create"], True),
        ("present", SECURE, opts(True, None, False), ["keep"], False),
        ("present", SECURE, opts(True, {"hpc:cluster": "prod"}, True), ["keep"], False),
        ("present", SECURE, opts(False, None, False), ["reencrypt"], True),
        ("present", SECURE, opts(True, {"hpc:cluster": "test"}, False), ["retag"], True),
        ("present", SECURE, opts(True, {}, True), ["retag"], True),
        ("present", SECURE, opts(True, {}, False), ["keep"], False),
        ("present", SECURE, opts(False, {"x": "y"}, False), ["reencrypt", "retag"], True),
        ("absent", SECURE, opts(True, None, False), ["delete"], True),
        ("absent", None, opts(True, None, False), [], False),
        ("absent", {"type": "String", "tags": {}}, opts(True, None, False), ["delete"], True),
    ],
)
def test_plan_secret(state, current, options, actions, changed):
    plan = _secret.plan_secret(NAME, state, current, **options)
    assert plan.actions == actions
    assert plan.changed is changed
    assert plan.create is ("create" in actions)
    assert plan.reencrypt is ("reencrypt" in actions)
    assert plan.delete is ("delete" in actions)
    assert plan.retag is ("retag" in actions)


def test_plan_create_carries_tags():
    plan = _secret.plan_secret(NAME, "present", None, tags={"hpc:cluster": "prod"})
    assert plan.tags_to_set == {"hpc:cluster": "prod"}


def test_plan_retag_details():
    plan = _secret.plan_secret(NAME, "present", SECURE, tags={"new": "1"}, purge_tags=True)
    assert plan.tags_to_set == {"new": "1"}
    assert plan.tags_to_unset == ["hpc:cluster"]


@pytest.mark.parametrize("kind", ["String", "StringList"])
def test_plan_refuses_other_types(kind):
    current = dict(SECURE, type=kind)
    with pytest.raises(_secret.SecretPlanError) as info:
        _secret.plan_secret(NAME, "present", current)
    message = str(info.value)
    assert NAME in message
    assert f"exists with type {kind}, not SecureString" in message
    assert "never converts" in message


def test_plan_rejects_unknown_state():
    with pytest.raises(ValueError, match="state must be present or absent"):
        _secret.plan_secret(NAME, "rotated", None)


# ---------------------------------------------------------------- expected state and diff
@pytest.mark.parametrize(
    ("current", "kwargs", "key_id", "expected"),
    [
        (None, {"state": "present", "tags": {"a": "b"}}, "alias/hpc",
         {"type": "SecureString", "key_id": "alias/hpc", "tags": {"a": "b"}, "version": 1}),
        (SECURE, {"state": "absent"}, None, None),
        (None, {"state": "absent"}, None, None),
        (SECURE, {"state": "present", "key_matches": False}, "alias/new",
         dict(SECURE, key_id="alias/new", version=4)),
        (SECURE, {"state": "present", "tags": {"x": "1"}, "purge_tags": True}, "alias/hpc",
         dict(SECURE, tags={"x": "1"})),
        (SECURE, {"state": "present"}, "alias/hpc", SECURE),
    ],
)
def test_expected_state(current, kwargs, key_id, expected):
    plan = _secret.plan_secret(NAME, current=current, **kwargs)
    assert _secret.expected_state(current, plan, key_id) == expected


def test_expected_state_does_not_mutate_current():
    current = {"type": "SecureString", "key_id": "k", "tags": {"a": "1"}, "version": 1}
    plan = _secret.plan_secret(NAME, "present", current, key_matches=False, tags={"b": "2"}, purge_tags=True)
    _secret.expected_state(current, plan, "k2")
    assert current == {"type": "SecureString", "key_id": "k", "tags": {"a": "1"}, "version": 1}


def test_build_diff_has_no_value():
    current = dict(SECURE, value="should-not-appear", description="d")
    diff = _secret.build_diff(NAME, None, current)
    assert diff["before"] == {"exists": False, "type": None, "key_id": None, "tags": {}, "version": None}
    assert diff["after"] == {"exists": True, "type": "SecureString", "key_id": "alias/hpc",
                             "tags": {"hpc:cluster": "prod"}, "version": 3}
    assert "should-not-appear" not in repr(diff)
    assert diff["before_header"] == diff["after_header"] == f"SSM parameter {NAME}"
