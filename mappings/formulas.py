"""Text a spreadsheet would run as a formula, and how each kind of target receives it.

A cell starting with =, +, -, @, a tab or a carriage return is a formula to Excel and
LibreOffice (CSV injection: ``=HYPERLINK("http://…","Klikni")`` becomes a link, ``=cmd|…``
runs a program). What the hub does with such a value:

- ``=`` and ``@`` (and tab, CR, which the text normalizers never leave in front) start no
  company name, street, city or e-mail address: such a value is an attack or a paste
  error, so it is *held*: reported as a finding, never written to any system.
- ``+`` and ``-`` do start real values ("+Plus s.r.o.", "-ZERO- a.s.", every E.164 phone
  number): they are data, written as they are over SOAP and SQL, and *escaped* in CSV
  import files, as the target's import contract says (docs/CONTRACTS.md: a leading ``'``).

The escape is reversible: a text whose first character after any apostrophes is a formula
character gets one more apostrophe in front, and the import drops exactly one.
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
HELD_PREFIXES = ("=", "@", "\t", "\r")
ESCAPE = "'"
# Fields that hold free text (the identifiers, codes and numbers are validated into shapes
# that start with no formula character; a phone number starts with "+" by its standard).
FREE_TEXT_FIELDS = ("legal_name", "street", "city", "postal_code", "email")


def formula_like(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` as a formula."""
    return text.startswith(FORMULA_PREFIXES)


def held_formula(text: str) -> bool:
    """Whether ``text`` is never written to any system (see the module's note)."""
    return text.startswith(HELD_PREFIXES)


def escape_cell(text: str) -> str:
    """``text`` as a CSV import cell: a formula-like text (also one already behind
    apostrophes) gets a leading apostrophe, so that the cell is plain text."""
    return ESCAPE + text if formula_like(text.lstrip(ESCAPE)) else text


def unescape_cell(cell: str) -> str:
    """The text an escaped cell stands for: exactly one leading apostrophe dropped."""
    return cell[1:] if cell.startswith(ESCAPE) and formula_like(cell.lstrip(ESCAPE)) else cell
