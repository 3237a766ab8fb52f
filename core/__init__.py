"""What every layer shares and nothing else: connection details, the one error root, the
clock and the content hash.

core/ imports no other custhub package; connectors/, mappings/, reconciliation/ and hub/
import it (docs/adr/0001-layering.md).
"""
