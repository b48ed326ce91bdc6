"""The service's state, one module per concern, over one database (:mod:`.schema`).

- :mod:`.jobs`: jobs (:class:`Job`, :class:`JobKind`, :class:`JobStatus`, :class:`Lane`), their
  queue and the run history;
- :mod:`.results`: what the latest run left per task (review states, predictions);
- :mod:`.params`: per-project settings;
- :mod:`.fits`: each project's current model fit, in a server database (DATABASE_URL) only;
- :mod:`.copies`: Label Studio's events as they arrive, and each project's copy of its tasks.

:class:`Store` is the handle the app, the run processes and the RQ workers open: every concern's
methods on one database, migrated to the newest schema when opened.
"""

from .copies import CopyState, CopyStore
from .fits import FitStore
from .jobs import Job, JobKind, JobStatus, JobStore, Lane
from .params import ParamStore
from .results import ResultStore

__all__ = ["CopyState", "Job", "JobKind", "JobStatus", "Lane", "Store"]


class Store(JobStore, ResultStore, ParamStore, FitStore, CopyStore):
    """The service's database (``DATABASE_URL``, or SQLite under ``data_dir``), with every
    concern's methods."""
