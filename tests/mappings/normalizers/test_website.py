import pytest

from mappings.errors import InvalidValue
from mappings.normalizers.website import normalize_website


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Firma.cz/kontakt", "firma.cz"),
        ("www.firma.cz", "firma.cz"),
        ("http://eshop.firma.cz/", "firma.cz"),
        ("shop.firma.co.uk", "firma.co.uk"),  # the public suffix list, not the last two labels
        ("firma.com.pl", "firma.com.pl"),
        ("WWW.Müller-Bau.de", "müller-bau.de"),
        ("www.xn--mller-bau-q9a.de", "müller-bau.de"),  # the same domain in its ASCII form
    ],
)
def test_website_is_its_registered_domain(raw: str, expected: str) -> None:
    assert normalize_website(raw) == expected


@pytest.mark.parametrize("raw", ["localhost", "http://192.168.1.1", "firma", "n/a"])
def test_no_registered_domain(raw: str) -> None:
    with pytest.raises(InvalidValue, match="no registered domain"):
        normalize_website(raw)
