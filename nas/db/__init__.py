"""Read-only queries over a study database.

(docstring to be completed)
"""

from nas.db._database import Database, UnknownStudy, delete_study
from nas.db._export import FORMATS, format_for, write_frame
from nas.db._pareto import non_dominated
from nas.db._readonly import SQLRefused
from nas.db._storage import StorageError, masked
from nas.db._where import Where, WhereError

__all__ = [
    "FORMATS",
    "Database",
    "SQLRefused",
    "StorageError",
    "UnknownStudy",
    "Where",
    "WhereError",
    "delete_study",
    "format_for",
    "masked",
    "non_dominated",
    "write_frame",
]
