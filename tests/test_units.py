"""Quantities, durations and image references: the pure parsers config validation uses.

Invariants guarded:
- quantities read as the API server reads them (binary, decimal, exponent suffixes) and
  near-misses ("12Gb", "1.5 Gi", negative) are refused with a ValueError;
- durations are whole seconds, refused when zero or malformed, and print back shortest;
- image references split into registry, repository, tag and digest as docker reads them,
  and only a missing tag or `latest` without a digest counts as mutable;
- no input makes a parser raise anything but ValueError.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from go_platform_core.images import parse_image
from go_platform_core.kube import go_memory_limit, label_value, route_match
from go_platform_core.units import format_duration, parse_duration, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", Decimal("0.25")),
        ("1", Decimal(1)),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("128Mi", Decimal(128 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1G", Decimal(10**9)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("+2", Decimal(2)),
        ("100u", Decimal("0.0001")),
        ("5n", Decimal("5e-9")),
    ],
)
def test_quantities(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["12Gb", "1.5 Gi", "-1", "", "Gi", "1ki", "1.2.3", "0x10", "1Mb"])
def test_not_quantities(text):
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


# Each overflows in its own way: the decimal context (1e1000000), int() of an exponent of
# more digits than Python converts, an exponent beyond any context.
@pytest.mark.parametrize("text", ["1e1000000", "1e" + "9" * 5000, "1e999999999"])
def test_absurd_exponents_are_out_of_range_not_a_crash(text):
    with pytest.raises(ValueError, match="out of range for a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m", 60), ("1m30s", 90), ("2h", 7200), ("1h1m1s", 3661)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["0s", "", "10", "1.5m", "5ms", "1d", "m"])
def test_not_durations(text):
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration(text)


def test_format_duration_is_shortest():
    assert format_duration(90) == "1m30s"
    assert format_duration(3600) == "1h"


@pytest.mark.parametrize(
    ("reference", "registry", "repository", "tag", "mutable"),
    [
        ("nginx", "docker.io", "nginx", None, True),
        ("nginx:latest", "docker.io", "nginx", "latest", True),
        ("team/app:v1", "docker.io", "team/app", "v1", False),
        ("ghcr.io/acme/greeter:1.2.3", "ghcr.io", "acme/greeter", "1.2.3", False),
        ("localhost:5000/app", "localhost:5000", "app", None, True),
        (f"registry.example.com/app@sha256:{'a' * 64}", "registry.example.com", "app", None, False),
        (
            f"registry.example.com/app:latest@sha256:{'a' * 64}",
            "registry.example.com",
            "app",
            "latest",
            False,
        ),
    ],
)
def test_image_references(reference, registry, repository, tag, mutable):
    image = parse_image(reference)
    assert (image.registry, image.repository, image.tag, image.is_mutable) == (
        registry,
        repository,
        tag,
        mutable,
    )


@pytest.mark.parametrize(
    "reference", ["", "UPPER/app", "app:", "app@sha256:short", "a b", "ghcr.io/Acme/app"]
)
def test_not_image_references(reference):
    with pytest.raises(ValueError, match="not an image reference"):
        parse_image(reference)


def test_image_version_label():
    assert parse_image("app:v2").version == "v2"
    assert parse_image(f"app@sha256:{'b' * 64}").version == "b" * 12


@given(st.text(max_size=30))
def test_parsers_only_raise_value_errors(text):
    for parse in (parse_quantity, parse_duration, parse_image):
        with contextlib.suppress(ValueError):
            parse(text)


def test_go_memory_limit_leaves_headroom():
    assert go_memory_limit("256Mi") == "230MiB"
    assert go_memory_limit("1Gi") == "921MiB"
    assert go_memory_limit("1Mi") == "1MiB"


def test_label_values_are_valid():
    assert label_value("v1.2.3+build.4") == "v1.2.3-build.4"
    assert len(label_value("x" * 100)) == 63


def test_route_match():
    assert route_match("a.example.com", "/") == "Host(`a.example.com`)"
    assert route_match("a.example.com", "/v1") == "Host(`a.example.com`) && PathPrefix(`/v1`)"
