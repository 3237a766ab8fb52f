"""File formats the file-based connectors read and write."""

from connectors.files.csv_format import FileFormat, encodable, read_rows, write_rows

__all__ = ["FileFormat", "encodable", "read_rows", "write_rows"]
