"""A pytest plugin (loaded by tests/conftest.py): a test's failure report made UTF-8 text.
Tests of names that are not UTF-8 compare strings holding lone surrogates ('\\udcff');
when one fails, its report holds them, and pytest-xdist cannot send such a report from
a worker ("strings must be utf-8 encodable"): the whole run ended in an INTERNALERROR
("no active workers available"), naming no failing test and running no other. Written
with backslash escapes instead, the failure is reported as any other."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


def _utf8(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.longrepr is not None and not _is_utf8(str(report.longrepr)):
        report.longrepr = _utf8(str(report.longrepr))
    report.sections = [(name, _utf8(text)) for name, text in report.sections]
