"""De-identification engine: header keep-list, independent verification, pixel text redaction.

A plain library with no Django imports, so it can run in a worker, a CLI or a test alike.
"""

from .quiet import keep_values_out_of_logs

# Before any file is read in whatever process imports the engine (see quiet.py).
keep_values_out_of_logs()
