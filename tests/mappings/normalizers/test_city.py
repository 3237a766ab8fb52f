import pytest

from mappings.normalizers.city import normalize_city


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Praha", "Praha"),
        ("Praha 4", "Praha"),
        ("Praha 4 - Nusle", "Praha"),
        ("Praha 4 – Nusle", "Praha"),  # an en dash
        ("Praha 4, Nusle", "Praha"),
        ("Praha 22", "Praha"),
        ("Praha-Smíchov", "Praha"),
        ("PRAHA 1", "Praha"),
        ("Prague", "Praha"),
        ("Prague 2", "Praha"),
        ("Prag", "Praha"),
        ("Hlavní město Praha", "Praha"),
        ("Brünn", "Brno"),
        ("Brunn", "Brno"),  # without the umlaut
        ("Brno-střed", "Brno"),
        ("Brno - Královo Pole", "Brno"),
        ("Pressburg", "Bratislava"),
        ("Bratislava II", "Bratislava"),
        ("Bratislava - Petržalka", "Bratislava"),
        ("Wien", "Wien"),
        ("Vienna", "Wien"),
        ("Vídeň", "Wien"),
        ("Viedeň", "Wien"),
        ("Wien 3.", "Wien"),
        ("Budapešť", "Budapest"),
        ("Breslau", "Wrocław"),
        ("  Lhota  pod  Horami ", "Lhota pod Horami"),  # a place the table does not know: as written
    ],
)
def test_city_exonyms_and_districts_fold(raw: str, expected: str) -> None:
    assert normalize_city(raw) == expected


@pytest.mark.parametrize("raw", ["Praha-západ", "Praha - východ", "Brno-venkov", "Košice-okolie",
                                 "Plzeň-jih", "Prahatice"])
def test_a_district_that_is_another_place_is_kept(raw: str) -> None:
    assert normalize_city(raw) == raw


def test_blank_city() -> None:
    assert normalize_city("  ") is None
