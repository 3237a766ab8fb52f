"""The simulated ERP: its own partner master data, a nightly export and an import folder.

It behaves like a real ERP file interface (K2, Helios Green): the export is cp1250 with
';' and decimal commas, written first and announced by a ``.done`` marker written last
that gives its row count (``rows N``), or by a sha256sum manifest with the same line;
import files are taken in name order, ``*.part`` files are left alone (still uploading),
an empty cell leaves the value as it is, a text cell escaped against spreadsheet formulas
("'=…", "'-…") is stored without its apostrophe, and a processed file moves to import/processed/.
Like a real import job it reads numbers only in its own spelling: "150000.50" is not a
credit limit to it (a decimal point is no decimal comma) and "30,0" no number of days, so
a file holding one is applied not at all, moves to import/error/ and gets a
``<name>.errors.txt`` naming every bad cell by line and column. It parses with the
standard library, not with custhub's reader, so a round trip through both really tests
the connector against an independent implementation; tests check that the ERP's mapping
spec states this same format (encoding, delimiter, decimal comma).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

COLUMNS = ["PARTNER_ID", "NAZEV", "ICO", "DIC", "ULICE", "MESTO", "PSC", "ZEME", "EMAIL",
           "TELEFON", "SPLATNOST_DNI", "UVEROVY_LIMIT"]
ENCODING, DELIMITER, DECIMAL_COMMA = "cp1250", ";", True
# "150 000,50", "150000,5", "-20": digits (spaces may group thousands), a decimal comma and
# at most two places (the column holds money); nothing else, a decimal point least of all.
_ERP_DECIMAL = re.compile(r"-?([0-9]{1,3}(?:[ \xa0][0-9]{3})+|[0-9]+)(,[0-9]{1,2})?")
_ERP_INT = re.compile(r"-?[0-9]+")


class ImportRejected(ValueError):
    """An import file the ERP does not apply; ``problems`` names every bad cell."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _to_int(text: str) -> int:
    if not _ERP_INT.fullmatch(text.strip()):
        raise ValueError(f"not a whole number: {text!r}")
    return int(text)


def _to_decimal(text: str) -> Decimal:
    """ERP spelling "150 000,50" (spaces as thousands separators, comma as decimal point)."""
    if not _ERP_DECIMAL.fullmatch(text.strip()):
        raise ValueError(f"not a number with a decimal comma: {text!r}")
    return Decimal(re.sub(r"[ \xa0]", "", text).replace(",", "."))


def _decimal_text(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",")


# column -> (from the ERP's text, to the ERP's text); other columns are plain text.
_TYPED: dict[str, tuple[Callable[[str], Any], Callable[[Any], str]]] = {
    "SPLATNOST_DNI": (_to_int, str),
    "UVEROVY_LIMIT": (_to_decimal, _decimal_text),
}


class ErpSystem:
    """Partners kept in a JSON file (the ERP's own database); files under ``files_root``."""

    def __init__(self, state_path: Path, files_root: Path):
        self.state_path, self.files_root = Path(state_path), Path(files_root)
        for folder in ("export", "import", "import/processed", "import/error"):
            (self.files_root / folder).mkdir(parents=True, exist_ok=True)

    # -- master data --------------------------------------------------------------------
    def load(self, partners: list[dict]) -> None:
        """Replace the master data with ``partners`` (CONTRACTS.md columns): typed values, or
        text in the ERP's own spelling ("150000,50")."""
        for p in partners:
            unknown = set(p) - set(COLUMNS)
            if unknown:
                raise ValueError(f"unknown ERP column(s): {sorted(unknown)}")
        # Written row by row: a million partners never sit in memory twice.
        self._save_rows((str(p["PARTNER_ID"]), _stored({c: p.get(c) for c in COLUMNS}))
                        for p in partners)

    def edit(self, changes: dict[str, dict | None]) -> None:
        """The ERP's own users at work: per partner id, values to set (a new id is a new
        partner) or None to delete the partner; applied and saved at once."""
        state = self._state()
        for partner_id, values in changes.items():
            if values is None:
                state.pop(partner_id, None)
                continue
            unknown = set(values) - set(COLUMNS)
            if unknown:
                raise ValueError(f"unknown ERP column(s): {sorted(unknown)}")
            blank = dict.fromkeys(COLUMNS) | {"PARTNER_ID": partner_id}
            state.setdefault(partner_id, blank).update(_stored(values))
        self._save(state)

    def partners(self) -> list[dict]:
        """Current master data, typed (SPLATNOST_DNI int, UVEROVY_LIMIT Decimal)."""
        return [_typed(row) for _, row in sorted(self._state().items())]

    def _state(self) -> dict[str, dict[str, str | None]]:
        if not self.state_path.exists():
            return {}
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def _save(self, state: dict[str, dict[str, str | None]]) -> None:
        self._save_rows(state.items())

    def _save_rows(self, rows: Iterable[tuple[str, dict[str, str | None]]]) -> None:
        """Write-then-rename, so a crash never leaves half a database; one partner a line, a
        later duplicate id replacing an earlier one as in a dict."""
        tmp = self.state_path.with_suffix(self.state_path.suffix + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("{")
            for i, (partner_id, row) in enumerate(rows):
                f.write(("," if i else "") + "\n" + json.dumps(partner_id, ensure_ascii=False) + ": "
                        + json.dumps(row, ensure_ascii=False))
            f.write("\n}\n")
        os.replace(tmp, self.state_path)

    # -- export -------------------------------------------------------------------------
    def export(self, day: date, *, manifest: bool = False) -> Path:
        """export/customers-YYYYMMDD.csv, then its control file, written last: a ``.done``
        marker holding ``rows N`` (the number of data rows), or with ``manifest`` a
        ``.sha256`` in sha256sum format followed by the same ``rows N`` line."""
        path = self.files_root / "export" / f"customers-{day:%Y%m%d}.csv"
        rows = list(self._state().values())
        with open(path, "w", encoding=ENCODING, newline="") as f:
            writer = csv.writer(f, delimiter=DELIMITER, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow([row.get(c) or "" for c in COLUMNS])
        if manifest:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            control = f"{digest}  {path.name}\nrows {len(rows)}\n"
            path.with_name(path.name + ".sha256").write_text(control, encoding="ascii")
        else:
            path.with_name(path.name + ".done").write_text(f"rows {len(rows)}\n", encoding="ascii")
        return path

    # -- import -------------------------------------------------------------------------
    def apply_imports(self) -> int:
        """Apply every complete import file in name order; returns the rows applied.

        A file with a value the ERP cannot read is applied not at all (all or nothing, as
        an ERP import job does), moves to import/error/ and gets its ``.errors.txt``.
        """
        state, applied = self._state(), 0
        import_dir = self.files_root / "import"
        for path in sorted(import_dir.glob("*.csv")):  # *.csv.part does not match
            try:  # every cell is checked before the first is applied: no copy of the state needed
                count = _apply_file(path, state)
            except ImportRejected as rejected:
                _reject(path, import_dir / "error", rejected.problems)
                continue
            applied += count
            self._save(state)  # each file is applied and recorded before the next
            os.replace(path, import_dir / "processed" / path.name)
        return applied


def import_errors(files_root: Path) -> dict[str, list[str]]:
    """The rejected import files by name, with the problems the import job found in each."""
    error_dir = Path(files_root) / "import" / "error"
    return {p.name.removesuffix(".errors.txt"): p.read_text(encoding="utf-8").splitlines()
            for p in sorted(error_dir.glob("*.errors.txt"))}


def _reject(path: Path, error_dir: Path, problems: list[str]) -> None:
    os.replace(path, error_dir / path.name)
    report = error_dir / f"{path.name}.errors.txt"
    report.write_text("".join(f"{problem}\n" for problem in problems), encoding="utf-8")


def _apply_file(path: Path, state: dict[str, dict[str, str | None]]) -> int:
    """Check every row, then apply them all; ImportRejected names every bad cell."""
    try:
        rows = _read_import(path)
    except UnicodeDecodeError as e:
        raise ImportRejected([f"not {ENCODING}: {e.reason}"]) from None
    problems = [problem for line, row in rows for problem in _row_problems(line, row)]
    if problems:
        raise ImportRejected(problems)
    for _, row in rows:
        partner_id = row["PARTNER_ID"].strip()
        changes = {c: _unescaped(c, v) for c, v in row.items() if c != "PARTNER_ID" and v}
        # An id the ERP does not know yet is a new partner, as in an ERP import job.
        blank = dict.fromkeys(COLUMNS) | {"PARTNER_ID": partner_id}
        state.setdefault(partner_id, blank).update(_stored(changes))
    return len(rows)


def _read_import(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of an import file, read in the ERP's own format."""
    with open(path, encoding=ENCODING, newline="") as f:
        reader = csv.DictReader(f, delimiter=DELIMITER)
        rows = [(reader.line_num, row) for row in reader]
        unknown = sorted(set(reader.fieldnames or []) - set(COLUMNS))
    if unknown or "PARTNER_ID" not in (reader.fieldnames or []):
        raise ImportRejected([f"line 1: unknown column(s) {unknown} or no PARTNER_ID column"])
    return rows


def _row_problems(line: int, row: dict[str, str | None]) -> list[str]:
    if None in row or any(value is None for value in row.values()):
        return [f"line {line}: not as many cells as the header has columns"]
    problems = [] if row["PARTNER_ID"].strip() else [f"line {line}: no PARTNER_ID"]
    for column, value in row.items():
        if column in _TYPED and value:
            try:
                _TYPED[column][0](value)
            except ValueError as e:
                problems.append(f"line {line}: {column}: {e}")
    return problems


# The import contract for text a spreadsheet would run as a formula: the cell carries one
# apostrophe in front ("'=SUM(A1)", "'-ZERO- a.s."), which the import drops, as Excel does
# for its quote prefix. A text cell is unescaped only when, after its apostrophes, a
# formula character follows: "'t Hoen B.V." stays as it is.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _unescaped(column: str, text: str) -> str:
    if column in _TYPED or not text.startswith("'"):
        return text
    return text[1:] if text.lstrip("'").startswith(_FORMULA_START) else text


def _stored(values: dict[str, Any]) -> dict[str, str | None]:
    """Values as the ERP keeps them: its own text spelling (decimal comma), None for empty."""
    out: dict[str, str | None] = {}
    for column, value in values.items():
        if value is None or value == "":
            out[column] = None
        elif column in _TYPED:  # normalised: "150 000,5" is kept as "150000,50"
            parse, spell = _TYPED[column]
            out[column] = spell(parse(value) if isinstance(value, str) else value)
        else:
            out[column] = str(value)
    return out


def _typed(row: dict[str, str | None]) -> dict[str, Any]:
    return {c: (_TYPED[c][0](v) if c in _TYPED and v is not None else v)
            for c, v in row.items()}
