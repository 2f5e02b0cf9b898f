"""Rules as dataclass field metadata: the annotation completes them."""

from dataclasses import dataclass

import pytest

from sgns.config.rules import Devices, number, one_of, rules_of, text


def test_rules_take_type_and_nullability_from_the_annotation():
    @dataclass
    class Section:
        count: int | None = number(None, 1, 10)
        rate: float = number(0.5, 0.0, 1.0, open_low=True)
        mode: str = one_of("a", ("a", "b"))
        name: str | None = text(None, "a name")
        on: bool = True

    rules = rules_of(Section)
    assert {key: rule.allowed() for key, rule in rules.items()} == {
        "count": "an integer in [1, 10] or null",
        "rate": "a number in (0, 1]",
        "mode": "one of: a, b",
        "name": "a name or null",
        "on": "true or false",
    }
    assert [rules["count"].ok(v) for v in (10, 2.0, 11, True)] == [True, False, False, False]
    assert [rules["rate"].ok(v) for v in (1, 0.0, float("nan"))] == [True, False, False]
    assert [rules["mode"].ok(v) for v in ("b", "c")] == [True, False]
    assert [rules["on"].ok(v) for v in (True, 1)] == [True, False]
    assert rules["name"].ok("") is False


def test_nested_sections_become_dotted_keys():
    @dataclass
    class Inner:
        size: int = number(1, 1)

    @dataclass
    class Outer:
        inner: Inner = None  # a default_factory in real schemas; only the type matters here
        seed: int = number(0, 0)

    assert list(rules_of(Outer)) == ["inner.size", "seed"]


def test_lightning_devices_take_a_count_auto_minus_one_or_indices():
    devices = Devices()
    assert [devices.ok(v) for v in (1, "auto", -1, [0, 1])] == [True] * 4
    assert [devices.ok(v) for v in (0, True, [], ["0"], "all")] == [False] * 5


def test_a_field_without_a_rule_is_refused():
    @dataclass
    class Section:
        name: str = "x"

    with pytest.raises(TypeError, match=r"^name needs a rule: number\(\), one_of\(\)"):
        rules_of(Section)
