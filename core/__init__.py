"""What every layer shares and nothing else: connection details, the one error root, the
clock, the content hash and the description of a system's files (core/formats.py, stated by
a mapping spec and used by the file connector).

core/ imports no other custhub package; connectors/, mappings/, reconciliation/ and hub/
import it (docs/adr/0001-layering.md).
"""
