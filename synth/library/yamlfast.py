"""Fast YAML reading with line numbers: PyYAML's libyaml parser, YAML 1.2 core-schema scalars.

``load_with_lines(text)`` returns plain dicts, lists and scalars; every mapping is a
``LineDict`` and every list a ``LineList`` whose ``lc`` answers ``key(k)`` and ``item(i)`` with
a 0-based ``(line, column)``, as ruamel.yaml's round-trip containers do, so the callers that
name a line in an error message work with either.  A key given twice is an error (as it is in
ruamel.yaml), not a silent overwrite.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.resolver import BaseResolver

# the containers live apart from PyYAML, so a cached parse (yaml_cache) loads without it
from synth.library.yamllines import LineDict, LineList, _Lines

try:  # libyaml's parser (yaml.cyaml does not export it at the package's top level)
    from yaml.cyaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml: the pure-Python parser, same results
    _Parser = None
if _Parser is None:
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


class _Resolver(BaseResolver):
    """YAML 1.2 core schema (what ruamel.yaml uses): only true/false are booleans."""


_Resolver.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int",
     r"^(?:[-+]?0b[0-1_]+|[-+]?0o[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?[0-9][0-9_]*)$",
     "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ("tag:yaml.org,2002:timestamp",
     r"^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
     r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
     r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$", "0123456789"),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
):
    _Resolver.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


class _Constructor(yaml.constructor.SafeConstructor):
    pass


def _int(loader: _Constructor, node: yaml.ScalarNode) -> int:
    value = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if value.startswith("-") else 1
    digits = value.lstrip("+-")
    for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
        if digits.startswith(prefix):
            return sign * int(digits[2:], base)
    return sign * int(digits, 10)


def _float(loader: _Constructor, node: yaml.ScalarNode) -> float:
    value = str(loader.construct_scalar(node)).replace("_", "").lower()
    if value.lstrip("+-") == ".inf":
        return float("-inf") if value.startswith("-") else float("inf")
    if value == ".nan":
        return float("nan")
    return float(value)


def _mapping(loader: _Constructor, node: yaml.MappingNode):
    data = LineDict()
    data.lc = _Lines()
    yield data
    loader.flatten_mapping(node)  # "<<" merge keys
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise ConstructorError("while constructing a mapping", node.start_mark,
                                   "found unhashable key", key_node.start_mark) from None
        if key in data:
            raise ConstructorError("while constructing a mapping", node.start_mark,
                                   f'found duplicate key "{key}"', key_node.start_mark)
        data[key] = loader.construct_object(value_node, deep=True)
        data.lc._at[key] = (key_node.start_mark.line, key_node.start_mark.column)


def _sequence(loader: _Constructor, node: yaml.SequenceNode):
    data = LineList()
    data.lc = _Lines()
    yield data
    for i, child in enumerate(node.value):
        data.append(loader.construct_object(child, deep=True))
        data.lc._at[i] = (child.start_mark.line, child.start_mark.column)


_Constructor.add_constructor("tag:yaml.org,2002:int", _int)
_Constructor.add_constructor("tag:yaml.org,2002:float", _float)
_Constructor.add_constructor("tag:yaml.org,2002:map", _mapping)
_Constructor.add_constructor("tag:yaml.org,2002:seq", _sequence)


class _Loader(_Parser, _Constructor, _Resolver):  # type: ignore[misc, valid-type]
    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


def load_with_lines(text: str) -> Any:
    """One YAML document as plain values (``None`` for an empty one); raises yaml.YAMLError."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar the schema matched but
        raise yaml.YAMLError(str(exc)) from None           # Python can't convert
    finally:
        loader.dispose()
