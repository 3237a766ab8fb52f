"""The simulated ERP: its own partner master data, a nightly export and an import folder.

It behaves like a real ERP file interface (K2, Helios Green): the export is cp1250 with
';' and decimal commas, written first and announced by a ``.done`` marker written last;
import files are taken in name order, ``*.part`` files are left alone (still uploading),
an empty cell leaves the value as it is, and a processed file moves to import/processed/.
It parses with the standard library, not with custhub's reader, so a round trip through
both really tests the connector against an independent implementation.
"""

from __future__ import annotations

import copy
import csv
import json
import os
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable

COLUMNS = ["PARTNER_ID", "NAZEV", "ICO", "DIC", "ULICE", "MESTO", "PSC", "ZEME", "EMAIL",
           "TELEFON", "SPLATNOST_DNI", "UVEROVY_LIMIT"]
ENCODING, DELIMITER = "cp1250", ";"


def _to_int(text: str) -> int:
    return int(text.strip())


def _to_decimal(text: str) -> Decimal:
    """ERP spelling "150 000,50" (spaces as thousands separators, comma as decimal point)."""
    try:
        return Decimal(text.replace("\xa0", "").replace(" ", "").replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None


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
        """Replace the master data with ``partners`` (CONTRACTS.md columns)."""
        state = {}
        for p in partners:
            unknown = set(p) - set(COLUMNS)
            if unknown:
                raise ValueError(f"unknown ERP column(s): {sorted(unknown)}")
            state[str(p["PARTNER_ID"])] = _stored({c: p.get(c) for c in COLUMNS})
        self._save(state)

    def partners(self) -> list[dict]:
        """Current master data, typed (SPLATNOST_DNI int, UVEROVY_LIMIT Decimal)."""
        return [_typed(row) for _, row in sorted(self._state().items())]

    def _state(self) -> dict[str, dict[str, str | None]]:
        if not self.state_path.exists():
            return {}
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def _save(self, state: dict[str, dict[str, str | None]]) -> None:
        """Write-then-rename, so a crash never leaves half a database."""
        tmp = self.state_path.with_suffix(self.state_path.suffix + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_path)

    # -- export -------------------------------------------------------------------------
    def export(self, day: date) -> Path:
        """export/customers-YYYYMMDD.csv plus its .done marker, written last."""
        path = self.files_root / "export" / f"customers-{day:%Y%m%d}.csv"
        with open(path, "w", encoding=ENCODING, newline="") as f:
            writer = csv.writer(f, delimiter=DELIMITER, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            for row in self._state().values():
                writer.writerow([row.get(c) or "" for c in COLUMNS])
        path.with_name(path.name + ".done").write_bytes(b"")
        return path

    # -- import -------------------------------------------------------------------------
    def apply_imports(self) -> int:
        """Apply every complete import file in name order; returns the rows applied.

        A file with a value the ERP cannot read is applied not at all (all or nothing, as
        an ERP import job does) and moves to import/error/.
        """
        state, applied = self._state(), 0
        import_dir = self.files_root / "import"
        for path in sorted(import_dir.glob("*.csv")):  # *.csv.part does not match
            candidate = copy.deepcopy(state)
            try:
                count = _apply_file(path, candidate)
            except ValueError:
                os.replace(path, import_dir / "error" / path.name)
                continue
            state, applied = candidate, applied + count
            self._save(state)  # each file is applied and recorded before the next
            os.replace(path, import_dir / "processed" / path.name)
        return applied


def _apply_file(path: Path, state: dict[str, dict[str, str | None]]) -> int:
    with open(path, encoding=ENCODING, newline="") as f:
        rows = list(csv.DictReader(f, delimiter=DELIMITER))
    if rows and "PARTNER_ID" not in rows[0]:
        raise ValueError(f"{path.name}: no PARTNER_ID column")
    for row in rows:
        partner_id = (row["PARTNER_ID"] or "").strip()
        if not partner_id:
            raise ValueError(f"{path.name}: a row without PARTNER_ID")
        changes = {c: v for c, v in row.items() if c in COLUMNS and c != "PARTNER_ID" and v}
        # An id the ERP does not know yet is a new partner, as in an ERP import job.
        blank = dict.fromkeys(COLUMNS) | {"PARTNER_ID": partner_id}
        state.setdefault(partner_id, blank).update(_stored(changes))
    return len(rows)


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
