"""Griffe extension: an attribute shows its own documentation, never its type's.

The reference is built by inspecting the imported package, and inspection
gives a plain value (a dataclass field's default, a constant) the docstring
of its type: `batch_size = 32` would read "int([x]) -> integer...". Those
docstrings are dropped here, so such attributes are left out of the pages
(their meaning is documented where the class or module documents them).
"""

import inspect

import griffe


class TypeDocstrings(griffe.Extension):
    """Removes an inspected attribute's docstring when it is its value's type's."""

    def on_attribute_instance(self, *, node, attr, **kwargs):
        if not isinstance(node, griffe.ObjectNode) or attr.docstring is None:
            return
        type_docstring = type(node.obj).__doc__  # a descriptor on some extension types
        if isinstance(type_docstring, str) and attr.docstring.value == inspect.cleandoc(type_docstring):
            attr.docstring = None
