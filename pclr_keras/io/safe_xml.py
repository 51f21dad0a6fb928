"""XML from outside, parsed without trusting it, and told apart by its root.

Every XML reader here parses with `parse_untrusted_xml`: `defusedxml`'s
parser, so entity declarations (internal, external, parameter: "billion
laughs", XXE) and external references are refused, and any DOCTYPE with an
internal subset too. A bare DOCTYPE (`<!DOCTYPE RestingECG SYSTEM
"restecg.dtd">`, as MUSE writes) holds no declaration and is accepted: the
parser never loads the DTD it names. The encoding comes from the byte order
mark or the XML declaration (UTF-8, UTF-16 with BOM, ISO-8859-1, ...).
"""

import os
import re
from pathlib import Path
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml import ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from pclr_keras.io.record import ECGReadError

# Larger than any resting ECG export (a 12-lead 10 s file is ~0.2-1.5 MB).
MAX_FILE_BYTES = 64 * 1024 * 1024

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FIRST_ELEMENT = re.compile(r"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


class _Parser(DefusedXMLParser):
    """defusedxml's parser with DTDs forbidden except a bare DOCTYPE line."""

    def __init__(self):
        super().__init__(forbid_dtd=True, forbid_entities=True, forbid_external=True)

    def defused_start_doctype_decl(self, name, sysid, pubid, has_internal_subset):
        if has_internal_subset:
            raise DTDForbidden(name, sysid, pubid)


def _refusal(error, what_format):
    if isinstance(error, EntitiesForbidden):
        what = f"it declares the XML entity {error.name!r}"
    elif isinstance(error, DTDForbidden):
        what = ("its DOCTYPE carries an internal subset, where entities and other "
                "DTD declarations live")
    elif isinstance(error, ExternalReferenceForbidden):
        what = f"it references an external resource ({error.sysid or error.pubid})"
    else:
        what = str(error)
    return (f"refused: {what}; XML entities and DTD declarations are refused "
            "(they allow entity-expansion and external-entity attacks). "
            f"{what_format} exports have none: export the ECG again")


def read_bytes(source, path, what_format, max_bytes=MAX_FILE_BYTES):
    """The file's bytes, refusing unreadable, empty or oversized files."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise ECGReadError(source, f"file is {size} bytes, more than a {what_format} "
                                       f"ECG export ({max_bytes} bytes at most)")
        data = Path(path).read_bytes()
    except OSError as error:
        raise ECGReadError(source, f"cannot read the file ({error.strerror or error})") from error
    if not data.strip():
        raise ECGReadError(source, f"the file is empty, not a {what_format} export")
    return data


def parse_untrusted_xml(source, path, what_format):
    """Parses `path` safely; returns the root element.

    Raises:
        ECGReadError: unreadable, empty, too large, not well-formed, or
            declaring entities / a DTD internal subset.
    """
    data = read_bytes(source, path, what_format)
    parser = _Parser()
    try:
        parser.feed(data)
        return parser.close()
    except DefusedXmlException as error:
        raise ECGReadError(source, _refusal(error, what_format)) from error
    except ParseError as error:
        raise ECGReadError(source, f"not well-formed XML, e.g. truncated or not XML at all "
                                   f"({error})") from error


def local_name(tag):
    """`{namespace}name` -> `name`."""
    return tag.rpartition("}")[2]


def _head_text(head):
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore")
    if len(head) > 1 and (head[0] == 0 or head[1] == 0):  # UTF-16 without BOM
        return head.decode("utf-16-be" if head[0] == 0 else "utf-16-le", errors="ignore")
    return head.decode("latin-1")


def xml_root_name(path, limit=256 * 1024):
    """The local name of the file's first element, read from its start; None if not XML.

    Only the first bytes are read (comments and the prolog skipped), so
    telling MUSE, Philips and HL7 aECG files apart costs no parse.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(limit)
    except OSError:
        return None
    text = _COMMENT.sub("", _head_text(head))
    text = re.sub(r"<[?!][^>]*>", "", text)  # declaration, DOCTYPE line
    match = _FIRST_ELEMENT.search(text)
    return match.group(2) if match else None
