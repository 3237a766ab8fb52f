import pytest

from mappings.normalizers.legal_form import (
    canonical_legal_form,
    legal_form_from_code,
    legal_form_from_name,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Dvořák a syn s.r.o.", "s.r.o."),
        ("Dvořák a syn, s. r. o.", "s.r.o."),
        ("Dvořák a syn spol. s r.o.", "s.r.o."),
        ("Dvořák a syn spol. s r. o.", "s.r.o."),
        ("Dvořák a syn společnost s ručením omezeným", "s.r.o."),
        ("Dvořák a syn S.R.O.", "s.r.o."),
        ("Asseco Central Europe, a.s.", "a.s."),
        ("Asseco Central Europe akciová společnost", "a.s."),
        ("Novák & Partneři v.o.s.", "v.o.s."),
        ("Novák & Partneři, veřejná obchodní společnost", "v.o.s."),
        ("Horák k.s.", "k.s."),
        ("Klub přátel Šumavy, z.s.", "z.s."),
        ("Lékařská pomoc o.p.s.", "o.p.s."),
        ("Müller Maschinenbau GmbH", "GmbH"),
        ("Müller GmbH & Co. KG", "GmbH & Co. KG"),
        ("Siemens AG", "AG"),
        ("Kowalski Sp. z o.o.", "Sp. z o.o."),
        ("Kowalski spółka z ograniczoną odpowiedzialnością", "Sp. z o.o."),
        ("Nagy és Társa Kft.", "Kft."),
        ("SAD s.r.o. v likvidaci", "s.r.o."),
    ],
)
def test_legal_form_from_name(name: str, expected: str) -> None:
    assert legal_form_from_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "Bratři Jonas",  # ends in "…as", not in "a.s."
        "České vysoké učení technické v Praze",
        "Jan Novák",
        "s.r.o.",  # a form alone is no company name
    ],
)
def test_names_without_a_legal_form(name: str) -> None:
    assert legal_form_from_name(name) is None


def test_variants_written_alone_are_one_form() -> None:
    spellings = ["s.r.o.", "spol. s r.o.", "s. r. o.", "společnost s ručením omezeným"]
    assert {canonical_legal_form(s) for s in spellings} == {"s.r.o."}
    assert canonical_legal_form("akciová společnost") == "a.s."


@pytest.mark.parametrize(
    ("code", "expected"),
    [("112", "s.r.o."), ("121", "a.s."), ("111", "v.o.s."), ("113", "k.s."), (112, "s.r.o."),
     ("601", None)],
)
def test_ares_codes(code: object, expected: str | None) -> None:
    assert legal_form_from_code(code) == expected


def test_the_last_token_index_finds_what_the_longest_first_scan_finds() -> None:
    """legal_form_from_name looks only at variants ending in the name's last token."""
    from mappings.normalizers.legal_form import (
        LEGAL_FORM_VARIANTS,
        TRAILING_STATES,
        _by_length,
        _strip_state,
        _tokens,
    )

    def scan(name: str) -> str | None:  # the plain scan over every variant, longest first
        tokens = _strip_state(_tokens(name))
        return next((canonical for variant, canonical in _by_length()
                     if len(tokens) > len(variant) and tokens[-len(variant):] == variant), None)

    variants = [v for vs in LEGAL_FORM_VARIANTS.values() for v in vs]
    states = [""] + [" " + " ".join(state) for state in TRAILING_STATES]
    names = [f"{head}{v}{state}" for head in ("", "Novák ", "Novák a.s. ", "KG & ", "Co. ")
             for v in variants for state in states]
    names += [v for v in variants] + ["", " ", "s.r.o.", "v likvidaci", "Bratři Jonas", "x KG"]
    assert [legal_form_from_name(n) for n in names] == [scan(n) for n in names]
    assert sum(legal_form_from_name(n) is not None for n in names) > len(names) // 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Huber Bau GesmbH", "GmbH"),  # Austrian spelling
        ("Huber Bau Ges.m.b.H.", "GmbH"),
        ("Huber Bau GmbH & Co KG", "GmbH & Co. KG"),
        ("Huber Bau GmbH u. Co. KG", "GmbH & Co. KG"),
        ("Schmidt Software UG (haftungsbeschränkt)", "UG (haftungsbeschränkt)"),
        ("Schmidt Software UG", "UG (haftungsbeschränkt)"),
        ("Blumen Meier e.K.", "e.K."),
        ("Blumen Meier e. Kfm.", "e.K."),
        ("Gruber Technik e.U.", "e.U."),
        ("Gruber & Wagner OG", "OG"),
        ("Schmidt GmbH i.L.", "GmbH"),  # in Liquidation
        ("Kowalski Spółka z o.o.", "Sp. z o.o."),
        ("Kowalski sp. z o.o.", "Sp. z o.o."),
        ("Kowalski sp.z o.o.", "Sp. z o.o."),
        ("Kowalski i Nowak Sp.j.", "Sp.j."),
        ("Kowalski i Nowak sp. j.", "Sp.j."),
        ("Kowalski i Nowak spółka jawna", "Sp.j."),
        ("Budimex SA", "S.A."),
        ("Kowalski Sp. z o.o. w likwidacji", "Sp. z o.o."),
        ("Nagy és Társa Kft", "Kft."),
        ("Nagy és Társa Kkt.", "Kkt."),
        ("Nagy és Társa Bt.", "Bt."),
        ("OTP Bank Nyrt.", "Nyrt."),
        ("Magyar Telekom Zrt.", "Zrt."),
        ("Kovač s.p.", "s.p."),
        ("Krka d.d.", "d.d."),
        ("Gorenje d.o.o.", "d.o.o."),
        ("Stavby Novák as", "a.s."),  # dots left out
        ("Novák a syn vos", "v.o.s."),
        ("Novák a syn v.o.s.", "v.o.s."),
        ("Horák a spol. k.s.", "k.s."),
        ("Zemědělské družstvo Lhota", None),  # the form at the front is not a suffix
        ("Bratři Jonas", None),
    ],
)
def test_legal_forms_of_the_neighbours(name: str, expected: str | None) -> None:
    assert legal_form_from_name(name) == expected


def test_one_spelling_stands_for_one_form() -> None:
    from mappings.normalizers.legal_form import _variants

    with pytest.raises(ValueError, match="both"):
        _variants({"a.s.": ["a.s."], "AS": ["A. S."]})


def test_more_ares_codes() -> None:
    assert legal_form_from_code("205") == "družstvo"
    assert legal_form_from_code("301") == "s.p."
