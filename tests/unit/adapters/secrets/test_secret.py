"""``Secret`` never shows its value, whichever way Python turns it into text or bytes."""

from __future__ import annotations

import copy
import json
import logging
import pickle

import pytest

from thunes.adapters.secrets import HIDDEN, Secret

VALUE = "sk-live-7f3a9c1e5b"


def test_secret_when_rendered_any_way_then_only_the_mask_shows() -> None:
    secret = Secret(VALUE)

    renderings = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>40}",
        "%s %r" % (secret, secret),  # noqa: UP031 - the old formatting path is a rendering too
        "{}".format(secret),  # noqa: UP032
        json.dumps({"key": secret}, default=str),
        repr({"nested": [secret]}),
        logging.Formatter().format(logging.LogRecord("t", logging.INFO, "f", 1, "key %s", (secret,), None)),
    ]

    for text in renderings:
        assert VALUE not in text
        assert HIDDEN in text


def test_secret_when_json_dumped_without_a_default_then_refused_not_leaked() -> None:
    with pytest.raises(TypeError) as caught:
        json.dumps({"key": Secret(VALUE)})

    assert VALUE not in str(caught.value)


def test_secret_when_pickled_then_the_copy_holds_the_mask_not_the_value() -> None:
    data = pickle.dumps(Secret(VALUE))

    restored = pickle.loads(data)

    assert VALUE.encode() not in data
    assert restored.reveal() == HIDDEN


def test_secret_when_copied_or_compared_then_value_kept_and_equal_in_constant_time() -> None:
    secret = Secret(VALUE)

    assert copy.copy(secret).reveal() == VALUE
    assert copy.deepcopy({"k": secret})["k"].reveal() == VALUE
    assert secret == Secret(VALUE)
    assert secret != Secret(VALUE + "x")
    assert secret != VALUE  # a Secret is not its text


def test_secret_when_mutated_or_hashed_or_built_from_bytes_then_refused() -> None:
    secret = Secret(VALUE)

    with pytest.raises(AttributeError):
        secret._value = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(secret)
    with pytest.raises(TypeError):
        Secret(VALUE.encode())  # type: ignore[arg-type]
    assert not hasattr(secret, "__dict__")
    assert secret.reveal() == VALUE
