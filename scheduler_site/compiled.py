"""Querysets compiled to SQL once per process and database, then run with new values.

Django compiles a queryset to SQL every time it is evaluated. For the queries every public
slots request makes (its page by slug, its owner's Exchange connection), compiling was more
of their CPU than the round trip to the database: two thirds of `connection_for`, a sixth of
a cached slots answer. A `Compiled` builds the queryset once with marker values, keeps the
SQL, and runs it through `raw()` with the caller's values in the markers' places. Every call
still reads the rows, so nothing it answers is older than the database.

Only for querysets of one model's own columns: raw() maps columns to fields by name, so a
joined model's columns (select_related) would land on the wrong fields; that is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import models, router

M = TypeVar("M", bound=models.Model)


class Compiled(Generic[M]):
    def __init__(
        self, model: type[M], build: Callable[..., models.QuerySet[M]], *markers: object
    ) -> None:
        """`build(*markers)` is the queryset, of `model`; each marker is a value no caller
        passes (a negative id, a string no slug can be), which shows where its argument goes."""
        self._model = model
        self._build = build
        self._markers = markers
        self._sql: dict[str, tuple[str, list[tuple[int | None, object]]]] = {}

    def __call__(self, *args: Any) -> list[M]:
        if len(args) != len(self._markers):
            raise TypeError(f"expected {len(self._markers)} values, got {len(args)}")
        alias = router.db_for_read(self._model)
        compiled = self._sql.get(alias)
        if compiled is None:
            compiled = self._compile(alias)
        sql, slots = compiled
        params = [args[i] if i is not None else value for i, value in slots]
        return list(self._model._default_manager.db_manager(alias).raw(sql, params))

    def _compile(self, alias: str) -> tuple[str, list[tuple[int | None, object]]]:
        query = self._build(*self._markers).query
        if query.model is not self._model or query.select_related:
            raise ValueError("a compiled queryset reads its own model's columns only")
        sql, params = query.get_compiler(alias).as_sql()
        slots: list[tuple[int | None, object]] = []
        for value in params:
            where = [
                i
                for i, marker in enumerate(self._markers)
                if type(value) is type(marker) and value == marker
            ]
            slots.append((where[0], None) if where else (None, value))
        if {i for i, _ in slots if i is not None} != set(range(len(self._markers))):
            raise ValueError("every marker must appear in the compiled SQL")
        # Two threads compiling at once store the same SQL; either wins.
        self._sql[alias] = (sql, slots)
        return sql, slots
