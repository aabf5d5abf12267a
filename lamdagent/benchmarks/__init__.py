"""Pipeline benchmark tables: every pipeline of a declared space, trained and scored once, looked up later.

`table.py` reads, writes and validates the rows; the `table` executor answers trials from them, and the
arena (`lamdagent arena`) compares policies on them in seconds instead of GPU days.
"""

from lamdagent.benchmarks.table import Table, TableHeader, TableRow, append_rows, read_table, write_header

__all__ = ["Table", "TableHeader", "TableRow", "append_rows", "read_table", "write_header"]
