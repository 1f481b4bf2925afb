# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the ssm_secret module (private: not a public API).

Nothing here talks to AWS: the module reads the current state of the SSM parameter, hands it to
:func:`plan_secret` together with what the task asks for, and carries out the returned plan.
Secret values never pass through this file except in :func:`generate_secret`, which returns one
and keeps no copy.
"""

from __future__ import annotations

import secrets
import string

LENGTH_MIN = 16
LENGTH_MAX = 128
DEFAULT_LENGTH = 32

# The symbols of the alnum_symbols charset: RFC 3986 "unreserved" punctuation. They need no
# quoting or escaping in ODBC/ADO.NET connection strings, URLs, POSIX shells, cmd.exe or
# PowerShell command lines (no quotes, backslash, semicolon, space, $, %, ^, &, |, !, comma, = ...).
# Generated values of the letter charsets always start with a letter, so "-" or "~" never lead.
SAFE_SYMBOLS = "-._~"

# charset name -> the character classes a generated value contains at least one of each.
CHARSETS = {
    "alnum": (string.ascii_lowercase, string.ascii_uppercase, string.digits),
    "alnum_symbols": (string.ascii_lowercase, string.ascii_uppercase, string.digits, SAFE_SYMBOLS),
    "hex": (string.digits, "abcdef"),
}
# charsets whose generated values start with a letter
_LETTER_FIRST = ("alnum", "alnum_symbols")

SECURE_STRING = "SecureString"


class SecretPlanError(ValueError):
    """The desired state cannot be reached safely; the message names the parameter and why."""


def validate_length(length):
    """Return ``length`` if it is an allowed secret length, else raise ValueError naming the option."""
    if isinstance(length, bool) or not isinstance(length, int):
        raise ValueError(f"length must be a whole number between {LENGTH_MIN} and {LENGTH_MAX}, got {length!r}")
    if not LENGTH_MIN <= length <= LENGTH_MAX:
        raise ValueError(f"length must be between {LENGTH_MIN} and {LENGTH_MAX}, got {length}")
    return length


def charset_classes(charset):
    """The character classes of a charset name (ValueError naming the option for an unknown one)."""
    try:
        return CHARSETS[charset]
    except KeyError:
        raise ValueError(f"charset must be one of {', '.join(sorted(CHARSETS))}, got {charset!r}") from None


def charset_alphabet(charset):
    """Every character a value of ``charset`` may contain, as one string."""
    return "".join(charset_classes(charset))


def generate_secret(length=DEFAULT_LENGTH, charset="alnum_symbols"):
    """A random value from the ``secrets`` CSPRNG with at least one character of each class.

    Values of the letter charsets (alnum, alnum_symbols) start with a letter.
    """
    validate_length(length)
    classes = charset_classes(charset)
    alphabet = "".join(classes)
    rng = secrets.SystemRandom()
    chars = [secrets.choice(cls) for cls in classes]
    chars.extend(secrets.choice(alphabet) for _position in range(length - len(classes)))
    rng.shuffle(chars)
    if charset in _LETTER_FIRST and not chars[0].isalpha():
        # Swap a randomly chosen letter to the front; the classes include letters, so one exists.
        letters = [i for i, c in enumerate(chars) if c.isalpha()]
        pick = secrets.choice(letters)
        chars[0], chars[pick] = chars[pick], chars[0]
    return "".join(chars)


def same_kms_key(current, desired, resolve):
    """Whether two KMS key references (id, ARN, alias name or alias ARN) name the same key.

    ``resolve`` maps a reference to a canonical key ARN (or None when the key cannot be found); it
    is only called when the two strings differ.
    """
    if current == desired:
        return True
    if not current or not desired:
        return False
    current_arn = resolve(current)
    if current_arn is None:
        return False
    return current_arn == resolve(desired)


def tag_changes(current, desired, purge):
    """``(to_set, to_unset)`` turning tags ``current`` into ``desired`` (``desired`` None: no change)."""
    current = current or {}
    if desired is None:
        return {}, []
    to_set = {k: v for k, v in desired.items() if current.get(k) != v}
    to_unset = sorted(k for k in current if k not in desired) if purge else []
    return to_set, to_unset


class SecretPlan:
    """What ssm_secret will do to one parameter.

    ``actions`` is a list drawn from create, keep, reencrypt, retag, delete (``keep`` when the
    existing parameter is left as it is, ``[]`` when an absent parameter stays absent).
    """

    def __init__(self, name, actions, tags_to_set=None, tags_to_unset=None):
        self.name = name
        self.actions = list(actions)
        self.tags_to_set = dict(tags_to_set or {})
        self.tags_to_unset = list(tags_to_unset or [])

    @property
    def create(self):
        return "create" in self.actions

    @property
    def delete(self):
        return "delete" in self.actions

    @property
    def reencrypt(self):
        return "reencrypt" in self.actions

    @property
    def retag(self):
        return "retag" in self.actions

    @property
    def changed(self):
        return bool(set(self.actions) - {"keep"})

    def __repr__(self):
        return (f"SecretPlan({self.name!r}, {self.actions!r}, tags_to_set={self.tags_to_set!r}, "
                f"tags_to_unset={self.tags_to_unset!r})")


def plan_secret(name, state, current, *, key_matches=True, tags=None, purge_tags=True):
    """Decide what to do to SSM parameter ``name``.

    ``current`` is None when the parameter does not exist, else a dict with at least ``type`` and
    ``tags``. ``key_matches`` says whether its KMS key already is the desired one (see
    :func:`same_kms_key`). The value is never part of the decision: an existing value is kept.
    Raises SecretPlanError when the parameter exists with another type than SecureString.
    """
    if state == "absent":
        return SecretPlan(name, ["delete"] if current is not None else [])
    if state != "present":
        raise ValueError(f"state must be present or absent, got {state!r}")
    if current is None:
        return SecretPlan(name, ["create"], tags_to_set=tags or {})
    if current.get("type") != SECURE_STRING:
        raise SecretPlanError(
            f"SSM parameter {name} exists with type {current.get('type')}, not {SECURE_STRING}. "
            "ssm_secret keeps secrets only as SecureString and never converts an existing parameter "
            "(that would rewrite its value); delete the parameter or choose another name."
        )
    actions = []
    if not key_matches:
        actions.append("reencrypt")
    to_set, to_unset = tag_changes(current.get("tags"), tags, purge_tags)
    if to_set or to_unset:
        actions.append("retag")
    return SecretPlan(name, actions or ["keep"], tags_to_set=to_set, tags_to_unset=to_unset)


def describe_state(current):
    """The diff-mode view of a parameter (never its value)."""
    if current is None:
        return {"exists": False, "type": None, "key_id": None, "tags": {}, "version": None}
    return {
        "exists": True,
        "type": current.get("type"),
        "key_id": current.get("key_id"),
        "tags": dict(current.get("tags") or {}),
        "version": current.get("version"),
    }


def expected_state(current, plan, key_id):
    """The state ``plan`` leads to from ``current`` (for diff mode and check mode results).

    The version is predicted: SSM increments it on every value write (create, re-encryption).
    """
    if plan.delete:
        return None
    if plan.create:
        return {"type": SECURE_STRING, "key_id": key_id, "tags": dict(plan.tags_to_set), "version": 1}
    if current is None:
        return None
    after = dict(current)
    after["tags"] = {k: v for k, v in (current.get("tags") or {}).items() if k not in plan.tags_to_unset}
    after["tags"].update(plan.tags_to_set)
    if plan.reencrypt:
        after["key_id"] = key_id
        if current.get("version") is not None:
            after["version"] = current["version"] + 1
    return after


def build_diff(name, current, after):
    """The ``diff`` result of ssm_secret: before/after headers and states without the value."""
    return {
        "before_header": f"SSM parameter {name}",
        "after_header": f"SSM parameter {name}",
        "before": describe_state(current),
        "after": describe_state(after),
    }
