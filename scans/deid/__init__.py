"""De-identification engine: header keep-list, independent verification, pixel text redaction.

A plain library with no Django imports, so it can run in a worker, a CLI or a test alike.
"""
