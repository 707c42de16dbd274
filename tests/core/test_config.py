from dataclasses import dataclass
from typing import Literal

import pytest

from adlab.core.config import apply_overrides, fields_of, from_dict, param, parse_overrides, to_dict, validate
from adlab.core.errors import ConfigError


@dataclass
class Cfg:
    lr: float = param(0.1, "learning rate", gt=0)
    epochs: int = param(3, "passes", ge=1, le=1000)
    n: int | None = param(None, "subset size", ge=1)
    opt: Literal["sgd", "adam"] = param("sgd", "optimizer")
    flag: bool = param(False, "a switch")
    widths: tuple[int, ...] = param((2, 6), "hidden widths")
    name: str = param("x", "a label")


def test_defaults_and_docs():
    specs = {s.name: s for s in fields_of(Cfg)}
    assert specs["lr"].doc == "learning rate" and specs["lr"].default == 0.1
    assert specs["epochs"].bounds == {"ge": 1, "le": 1000}
    assert specs["opt"].type_name == "one of sgd|adam"
    assert "none" in specs["n"].type_name


@pytest.mark.parametrize(
    "key,text,expected",
    [
        ("lr", "3e-4", 3e-4),
        ("epochs", "7", 7),
        ("epochs", "1e2", 100),
        ("n", "none", None),
        ("n", "50", 50),
        ("opt", "adam", "adam"),
        ("flag", "true", True),
        ("flag", "0", False),
        ("widths", "2,4,8", (2, 4, 8)),
        ("name", "hello", "hello"),
    ],
)
def test_parse_each_type(key, text, expected):
    cfg = apply_overrides(Cfg(), {key: text})
    assert getattr(cfg, key) == expected
    assert type(getattr(cfg, key)) is type(expected)


@pytest.mark.parametrize(
    "key,text,needle",
    [
        ("lr", "abc", "lr"),
        ("lr", "nan", "float"),
        ("epochs", "2.5", "int"),
        ("epochs", "0", ">= 1"),
        ("epochs", "5000", "<= 1000"),
        ("lr", "-1", "> 0"),
        ("opt", "rmsprop", "sgd|adam"),
        ("flag", "maybe", "bool"),
        ("widths", "2,x", "int"),
    ],
)
def test_bad_values_name_field_and_type(key, text, needle):
    with pytest.raises(ConfigError) as e:
        apply_overrides(Cfg(), {key: text})
    msg = str(e.value)
    assert key in msg and needle in msg and "\n" not in msg


def test_unknown_field_suggests_closest():
    with pytest.raises(ConfigError, match="did you mean lr"):
        apply_overrides(Cfg(), {"lrr": "0.1"})


def test_parse_overrides_requires_equals():
    assert parse_overrides(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError):
        parse_overrides(["novalue"])


def test_roundtrip_through_json_dict():
    cfg = apply_overrides(Cfg(), {"widths": "3,5", "n": "10"})
    import json

    back = from_dict(Cfg, json.loads(json.dumps(to_dict(cfg))))
    assert back == cfg
    with pytest.raises(ConfigError):
        from_dict(Cfg, {"bogus": 1})


def test_validate_rejects_wrong_python_types():
    validate(Cfg())
    with pytest.raises(ConfigError):
        validate(Cfg(epochs=True))  # a bool is not an int here
    with pytest.raises(ConfigError):
        validate(Cfg(lr="0.1"))


@dataclass
class WithBar:
    epochs: int = param(3, "passes", ge=1)
    target: float = param(0.9, "accuracy the verdict asks for", gt=0, le=1, threshold=True)


def test_thresholds_cannot_be_lowered_with_set_but_presets_may_raise_them():
    with pytest.raises(ConfigError, match="verdict threshold"):
        apply_overrides(WithBar(), {"target": "0.1"})
    assert apply_overrides(WithBar(), {"epochs": "5"}).target == 0.9
    import dataclasses

    validate(dataclasses.replace(WithBar(), target=0.95))  # what a full preset does
