"""Each project's current model fit as one archive (``fits`` table), kept in the database only
when it is a server's that several hosts may share (``Database.shared``, DATABASE_URL); :mod:`backend.fits` packs and
unpacks it and keeps a local copy of each under ``TOKENLQ_DATA_DIR``."""

from __future__ import annotations

import sqlalchemy as sa

from .schema import Database, fits

__all__ = ["FitStore"]


class FitStore(Database):
    """The ``fits`` table: one row per project, replaced by each new fit."""

    def put_fit(self, project: int, name: str, created: float, archive: bytes) -> None:
        with self._write() as db:
            db.execute(fits.delete().where(fits.c.project == project))
            db.execute(fits.insert().values(project=project, name=name, created=created,
                                            archive=archive))

    def fit_name(self, project: int) -> str | None:
        """The name (version) of the project's current fit, or None."""
        with self._read() as db:
            return db.scalar(sa.select(fits.c.name).where(fits.c.project == project))

    def fit_archive(self, project: int, name: str) -> bytes | None:
        """Fit ``name``'s archive; None when the project's current fit is another (or none)."""
        with self._read() as db:
            return db.scalar(sa.select(fits.c.archive).where(fits.c.project == project,
                                                            fits.c.name == name))
