"""Values that are never shown: API keys, gRPC headers, a client certificate's private key.

A ``SecretStr`` or ``SecretBytes`` prints as ``**********`` in a repr, a str, a log line, an
error or a traceback's locals; only ``get_secret_value()`` gives the value, for the one place
that sends it. Two are equal when their values are, so a profile read back compares equal to
the one written. No pydantic here: every command holds its keys in these, and pydantic's
import is a third of a one-shot ``check``'s start.
"""

from __future__ import annotations

from typing import Generic, TypeVar

MASK = "**********"

_Value = TypeVar("_Value", str, bytes)


class _Secret(Generic[_Value]):
    __slots__ = ("_value",)
    _holds: type

    def __init__(self, value: _Value) -> None:
        if not isinstance(value, self._holds):
            raise TypeError(f"{type(self).__name__} holds {self._holds.__name__}, not {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> _Value:
        """The value in clear: for an Authorization header or a TLS handshake, never for display."""
        return self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._value == self._value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __copy__(self) -> _Secret[_Value]:
        return self  # immutable: a copy of a profile or settings shares it

    def __deepcopy__(self, memo: dict[int, object]) -> _Secret[_Value]:
        return self


class SecretStr(_Secret[str]):
    """A key or token held as text."""

    __slots__ = ()
    _holds = str


class SecretBytes(_Secret[bytes]):
    """A private key held as bytes (PEM)."""

    __slots__ = ()
    _holds = bytes
