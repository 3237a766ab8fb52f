"""File formats the file-based connectors read and write (CSV, partner XML)."""

from connectors.files.csv_format import FileFormat, UnreadableFile, encodable, read_rows, write_rows
from connectors.files.reader import Verdict, assess, read_records, write_records

__all__ = ["FileFormat", "UnreadableFile", "Verdict", "assess", "encodable", "read_records",
           "read_rows", "write_records", "write_rows"]
