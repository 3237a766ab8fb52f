"""How a file-based system spells its files: one description for the spec and the file connector.

A mapping spec states it (``format:`` in ``mappings/specs/erp.yaml``), the mapping engine
spells values by it when writing back (decimal mark, date format), and the file connector
reads and writes bytes by it (encoding, delimiter, header). It lives in core/ because
mappings/ and connectors/ may not import each other (docs/adr/0001-layering.md) and both
need the same description; two copies kept in step by hand would drift apart.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Encoding", "FileFormat"]

Encoding = Literal["utf-8", "utf-8-sig", "cp1250"]


class FileFormat(BaseModel):
    """How a system spells its files (the ERP: cp1250, ';', a header row, decimal comma).

    ``type: xml`` is the partner XML of ``connectors.files.xml_format``; there the file's
    own XML declaration names the encoding, and ``encoding`` is used for writing only.
    ``decimal_comma`` and ``date_format`` say how values are spelled inside a cell; the
    mapping engine applies them, the reader and writer move cells as text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["csv", "xml"] = "csv"
    encoding: Encoding = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    header: bool = True
    columns: tuple[str, ...] | None = None  # the column names when the file has no header
    line_terminator: Literal["\r\n", "\n"] = "\r\n"
    decimal_comma: bool = False  # "150000,50" rather than "150000.50"
    date_format: str = "%Y-%m-%d"  # strftime pattern of a date cell

    @model_validator(mode="after")
    def _consistent(self) -> FileFormat:
        if not self.header and not self.columns:
            raise ValueError("a file without a header row needs 'columns'")
        if len(self.delimiter) != 1 or len(self.quotechar) != 1:
            raise ValueError("delimiter and quotechar must be one character each")
        if self.decimal_comma and self.type == "csv" and self.delimiter == ",":
            raise ValueError("a decimal comma needs another delimiter than ','")
        if "%" not in self.date_format:
            raise ValueError("date_format must be a strftime pattern such as %d.%m.%Y")
        return self

    def csv_options(self) -> dict[str, Any]:
        return {"delimiter": self.delimiter, "quotechar": self.quotechar}
