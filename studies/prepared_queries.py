"""Querysets whose SQL the ORM compiles once per process, then run again with new parameters.

Building and compiling a queryset costs Django about a millisecond of Python, more than PostgreSQL
takes to answer a lookup by key. The participant pages run the same few lookups on every request (a
recruitment wave is thousands of them within seconds), so they compile each once: the first call
builds the queryset from its real values and keeps its SQL, its converters and how its rows become
model instances; later calls only execute the SQL with their own values.

The SQL still comes from the ORM, so it follows the models. A shape is compiled per number of values
in each list argument (an IN list of two compiles apart from one of three) and per boolean value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import QuerySet, sql
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators
from django.db.transaction import TransactionManagementError


class PreparedQueryError(TypeError):
    """The queryset's parameters are not exactly the values it was built from (a programming error)."""


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[int, ...]  # the SQL's parameters, as positions in the flattened values
    db: str
    converters: list  # (column position, (converter functions, expression)), as the ORM applies them
    model: type | None  # None: rows stay tuples (values_list)
    fields: tuple[int, int]  # the model's columns in a row
    init_list: list[str]
    related_populators: list
    for_update: bool


def _flatten(values: Sequence) -> tuple[tuple, tuple]:
    flat, shape = [], []
    for value in values:
        if isinstance(value, bool):
            # The ORM writes a boolean filter into the SQL (`NOT "is_pilot"`), not as a parameter.
            shape.append(value)
        elif isinstance(value, (list, tuple)):
            flat.extend(value)
            shape.append(len(value))
        else:
            flat.append(value)
            shape.append(None)
    return tuple(flat), tuple(shape)


class PreparedQuery:
    """`build(*values)` returns the queryset; calling this returns its rows (model instances, or
    tuples for a values_list queryset) as a list.

    `build` must put exactly `values` into the SQL as its parameters (the ORM may reorder them):
    no other value may become one, so constants are passed in as values too. The first call checks
    this and raises PreparedQueryError otherwise. Where two values are equal, which parameter is
    which cannot be told: that call runs its own compilation and keeps nothing."""

    def __init__(self, build: Callable[..., QuerySet]):
        self.build = build
        self._compiled: dict[tuple, _Compiled] = {}
        self._lock = threading.Lock()

    def __call__(self, *values: Any) -> list:
        flat, shape = _flatten(values)
        compiled = self._compiled.get(shape)
        if compiled is None:
            compiled = self._compile(values, flat, shape)
        connection = connections[compiled.db]
        if compiled.for_update and not connection.in_atomic_block:
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, [flat[i] for i in compiled.order])
            rows = cursor.fetchall()
        if compiled.converters:
            rows = [_converted(row, compiled.converters, connection) for row in rows]
        if compiled.model is None:
            return [tuple(row) for row in rows]
        start, end = compiled.fields
        found = []
        for row in rows:
            obj = compiled.model.from_db(compiled.db, compiled.init_list, row[start:end])
            for populator in compiled.related_populators:
                populator.populate(row, obj)
            found.append(obj)
        return found

    def first(self, *values: Any):
        rows = self(*values)
        return rows[0] if rows else None

    def _compile(self, values, flat, shape) -> _Compiled:
        queryset = self.build(*values)
        if queryset._prefetch_related_lookups or queryset._known_related_objects:
            raise PreparedQueryError("prefetch_related cannot be prepared: prepare the related query apart")
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        order, unambiguous = _parameter_order(tuple(params), flat)
        columns = [column for column, _, _ in compiler.select]
        model, fields, init_list, populators = None, (0, 0), [], []
        if queryset._iterable_class is ModelIterable:
            if compiler.annotation_col_map:
                raise PreparedQueryError("annotations on model rows cannot be prepared")
            klass_info = compiler.klass_info
            model = klass_info["model"]
            select_fields = klass_info["select_fields"]
            fields = (select_fields[0], select_fields[-1] + 1)
            init_list = [column.target.attname for column, _, _ in compiler.select[fields[0] : fields[1]]]
            populators = get_related_populators(klass_info, compiler.select, queryset.db)
        elif queryset._iterable_class is not ValuesListIterable:
            raise PreparedQueryError("only model rows and values_list tuples can be prepared")
        compiled = _Compiled(
            sql=sql,
            order=order,
            db=queryset.db,
            converters=list(compiler.get_converters(columns).items()),
            model=model,
            fields=fields,
            init_list=init_list,
            related_populators=populators,
            for_update=queryset.query.select_for_update,
        )
        if unambiguous:  # else right for these values only: kept for none
            with self._lock:
                self._compiled.setdefault(shape, compiled)
        return compiled


def _parameter_order(params: tuple, flat: tuple) -> tuple[tuple[int, ...], bool]:
    """Which value each parameter is (positions in `flat`), and whether that is certain (no two
    values equal); PreparedQueryError when the parameters are not exactly the values."""
    order, unambiguous, free = [], True, list(range(len(flat)))
    for param in params:
        matches = [i for i in free if type(flat[i]) is type(param) and flat[i] == param]
        if not matches:
            raise PreparedQueryError(f"the query's parameters {params!r} are not the values it was built from {flat!r}")
        unambiguous = unambiguous and len(matches) == 1
        order.append(matches[0])
        free.remove(matches[0])
    if free:
        raise PreparedQueryError(f"the values {flat!r} are not all parameters of the query ({params!r})")
    return tuple(order), unambiguous


def _converted(row, converters, connection) -> list:
    row = list(row)
    for position, (functions, expression) in converters:
        value = row[position]
        for convert in functions:
            value = convert(value, expression, connection)
        row[position] = value
    return row


def attach_prefetched(instances: Sequence, name: str, rows: Sequence, key: str) -> None:
    """Give each instance's reverse relation `name` the `rows` whose `key` is its pk, as
    prefetch_related would: `instance.<name>.all()` then reads no more."""
    groups: dict[Any, list] = {}
    for row in rows:
        groups.setdefault(getattr(row, key), []).append(row)
    for instance in instances:
        cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
        cache.pop(name, None)
        # The relation's own queryset, so that chaining on it (.get(), .filter()) still means this
        # instance's rows, as after prefetch_related.
        queryset = getattr(instance, name).all()
        queryset._result_cache = groups.get(instance.pk, [])
        queryset._prefetch_done = True
        cache[name] = queryset


class PreparedInsert:
    """Rows of one model inserted with the SQL the ORM compiled once. For two rows or more PostgreSQL's
    ORM writes one `INSERT ... SELECT * FROM UNNEST(one array per column)`, the same text whatever the
    number of rows, so only the values are prepared on each call (as bulk_create prepares them)."""

    def __init__(self, model: type):
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self._sql: str | None = None
        self._lock = threading.Lock()

    def __call__(self, objs: Sequence) -> None:
        """Insert `objs` (unsaved instances); their primary keys are not read back."""
        if len(objs) < 2:
            self.model._default_manager.bulk_create(objs)
            return
        db = router.db_for_write(self.model)
        connection = connections[db]
        if self._sql is None:
            self._compile(objs[:2], db)
        columns = [
            [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objs] for field in self.fields
        ]
        with connection.cursor() as cursor:
            cursor.execute(self._sql, columns)

    def _compile(self, sample: Sequence, db: str) -> None:
        query = sql.InsertQuery(self.model)
        query.insert_values(self.fields, sample)
        ((text, _),) = query.get_compiler(using=db).as_sql()
        if "UNNEST(" not in text:
            raise PreparedQueryError(f"{self.model.__name__} rows are not inserted through UNNEST: {text[:200]}")
        with self._lock:
            self._sql = text
