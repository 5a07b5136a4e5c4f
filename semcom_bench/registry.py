"""A small name -> class registry; every role (dataset adapter, labeler, channel, scheme...) has one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from semcom_bench.errors import SemcomError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to implementations of one role.

    >>> DATASETS = Registry("dataset adapter")
    >>> @DATASETS.register("folder")
    ... class FolderAdapter: ...
    """

    def __init__(self, role: str) -> None:
        self.role = role
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that files ``obj`` under ``name``; a name can be taken once."""

        def wrap(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.role} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return wrap

    def get(self, name: str) -> T:
        """The implementation filed under ``name``; the error lists the known names."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise SemcomError(f"unknown {self.role} {name!r}", hint=f"choose one of: {known}") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
