"""XML parsing without DTDs, external entities or entity expansion.

Cluster tools never emit a document type declaration, and without one XML has no way to declare
an entity: only the five predefined entities and character references exist. So any document
that contains ``<!DOCTYPE`` (or ``<!ENTITY``) is refused before it reaches the parser. That closes
external entity (XXE) and entity expansion ("billion laughs") attacks without a third-party
dependency, and keeps the fast C parser. Input must be UTF-8 (what the tools print); anything
that does not decode is refused too, so a declaration cannot hide in another encoding.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError as _XmlParseError, XMLParser

from ..errors import ParseError

_FORBIDDEN = ("<!DOCTYPE", "<!ENTITY")


def parse_xml(data: bytes | str, *, command: str) -> Element:
    """Parse ``data`` into an element tree, refusing DTDs and entity declarations.

    Raises :class:`ParseError` naming ``command`` for malformed or hostile input.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ParseError(f"not UTF-8: {err}", command=command) from err
    else:
        text = data
    upper = text.upper()
    if any(marker in upper for marker in _FORBIDDEN):
        raise ParseError("DTDs and entity declarations are not allowed", command=command)
    parser = XMLParser()  # noqa: S314 - DTDs and entities are refused above
    try:
        parser.feed(text)
        root: Element = parser.close()
    except _XmlParseError as err:
        raise ParseError(f"malformed XML: {err}", command=command) from err
    return root
