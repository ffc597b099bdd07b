"""A report page's seal: the sha256 of the page without its second line.

'train --force' and 'report -o' keep a page whose seal no longer matches (the user's
notes in it); a page from before the seal is taken by its banner, as it was.
"""

from __future__ import annotations

from tinyslm.report import BANNER, is_report_page, page_edited, seal_page

PAGE = f"<!DOCTYPE html>\n<html><body>{BANNER}0.1.0.</p>\n<p>figures</p></body></html>\n"


def test_a_sealed_page_is_tinyslms_until_edited() -> None:
    sealed = seal_page(PAGE).encode()
    assert sealed.split(b"\n")[1].startswith(b"<!-- tinyslm page sha256 ")
    assert not page_edited(sealed) and is_report_page(sealed)
    for edit in (
        sealed + b"<!-- my notes -->\n",
        sealed.replace(b"figures", b"figurez"),
        sealed.replace(sealed.split(b"\n")[1][-8:], b"0000 -->"),  # the seal itself
    ):
        assert page_edited(edit) and not is_report_page(edit)


def test_a_page_from_before_the_seal_is_taken_by_its_banner() -> None:
    assert not page_edited(PAGE.encode()) and is_report_page(PAGE.encode())
    assert not is_report_page(b"<!DOCTYPE html><p>my own page</p>\n")
