"""The XML guard refuses DTDs and entities and reports malformed input as ParseError."""

from __future__ import annotations

import pytest

from hacluster.errors import ParseError
from hacluster.parsers.xmlsafe import parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<lolz>&lol2;</lolz>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/shadow">]><r>&x;</r>"""


def test_parses_normal_document_with_declaration_and_bom() -> None:
    root = parse_xml(
        b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><a x="&amp;"/>', command="t"
    )
    assert root.tag == "a"
    assert root.get("x") == "&"
    assert parse_xml("<b>\u00e9</b>", command="t").text == "\u00e9"


@pytest.mark.parametrize(
    "data",
    [BILLION_LAUGHS, XXE, b"<!doctype a><a/>", b"<a><!ENTITY x 'y'></a>"],
    ids=["billion-laughs", "xxe", "lowercase-doctype", "entity-decl"],
)
def test_refuses_dtd_and_entities(data: bytes) -> None:
    with pytest.raises(ParseError, match="crm_mon: DTDs and entity declarations"):
        parse_xml(data, command="crm_mon")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<a", "malformed XML"),
        (b"", "malformed XML"),
        (b"<a>&undefined;</a>", "malformed XML"),
        (b"\xff\xfe<\x00a\x00/\x00>\x00", "not UTF-8"),
    ],
)
def test_malformed_input_is_a_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse_xml(data, command="cibadmin")
    assert info.value.command == "cibadmin"
