"""Time zones as customers say them (Babel's names, in their language), and a choice list that
opens with the zones a customer most likely lives in instead of 500 identifiers in a row."""

from __future__ import annotations

import re

from django.utils import translation

from simrenew.kit.timezones import US_ZONES, time_zone_choices, zone_name


def test_a_zone_is_named_as_people_say_it_in_their_language():
    assert zone_name("America/New_York", "en") == "Eastern Time (New York)"
    assert zone_name("America/New_York", "zh-hans") == "北美东部时间（纽约）"  # noqa: RUF001
    assert zone_name("Asia/Shanghai", "zh-hans") == "中国时间（上海）"  # noqa: RUF001
    assert zone_name("UTC", "zh-hans") == "UTC"


def test_an_unknown_zone_is_shown_as_it_is():
    assert zone_name("Mars/Olympus_Mons", "en") == "Mars/Olympus_Mons"


def test_the_likely_zones_come_first_the_customers_own_before_the_us_ones():
    with translation.override("en"):
        (likely_title, likely), (others_title, others) = time_zone_choices("en", first=("Europe/Paris",))

    assert (likely_title, others_title) == ("Likely time zones", "All time zones")
    assert [zone for zone, _ in likely] == ["Europe/Paris", *US_ZONES]
    assert not {zone for zone, _ in likely} & {zone for zone, _ in others}
    assert 300 < len(others) < 480  # places only: no US/Eastern, Etc/GMT+5 or old names twice
    assert "US/Eastern" not in dict(others) and "Europe/Kiev" not in dict(others)


def test_a_customers_legacy_zone_stays_selectable():
    (_, likely), _ = time_zone_choices("en", first=("US/Eastern",))

    assert likely[0][0] == "US/Eastern"


def test_a_chinese_list_has_no_english_place_names():
    (_, likely), (_, others) = time_zone_choices("zh-hans")

    assert [label for _, label in [*likely, *others] if re.search("[A-Za-z]", label)] == []
