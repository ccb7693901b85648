"""The test schedule (tests/schedule.py) names modules that exist, and starts them first."""

from __future__ import annotations

from tests.schedule import LONGEST_FIRST, TESTS, start_rank


def test_every_module_the_schedule_names_exists():
    assert [name for name in LONGEST_FIRST if not (TESTS / name).is_file()] == []


def test_listed_modules_start_in_their_order_and_the_rest_after_them():
    ranks = [start_rank(TESTS / name) for name in LONGEST_FIRST]

    assert ranks == sorted(ranks) == list(range(len(LONGEST_FIRST)))
    assert start_rank(TESTS / "test_config.py") == len(LONGEST_FIRST)
