"""Every exception the endpoint defines sits under LoopError, and HTTP statuses are decided in
the serving layer alone."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import loopml.serving
from loopml.core.errors import InvalidInput, LoopError, NotFound, OperationalError, StoreError
from loopml.serving import errors


def test_every_exception_of_the_serving_package_is_a_loop_error() -> None:
    found = []
    for module in pkgutil.iter_modules(loopml.serving.__path__, "loopml.serving."):
        mod = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == mod.__name__ and issubclass(cls, BaseException):
                found.append(cls)
                assert issubclass(cls, LoopError), cls
    assert errors.ClientGone in found and errors.PortUnavailable in found


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.MalformedBody("x"), 400),
        (errors.BodyTooLarge("x"), 413),
        (errors.UnsupportedMediaType("x"), 415),
        (errors.MisdirectedRequest("x"), 421),
        (errors.RequestError("x"), 422),
        (InvalidInput("x"), 422),
        (NotFound("x"), 404),
        (errors.QueueFull("x"), 503),
        (errors.ModelOutputError("x"), 500),
        (StoreError("x"), 500),
        (OperationalError("x"), 500),
    ],
)
def test_each_error_has_its_http_status(exc: LoopError, status: int) -> None:
    assert errors.http_status(exc) == status
