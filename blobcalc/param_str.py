"""Python layers' python_param.param_str, read the way each module reads it but never executed.

py-faster-rcnn's modules call `yaml.load(self.param_str_)` (PyYAML before 5.1, whose default loader
built Python objects from tags such as `!!python/tuple`); FCN's and ENet's call `eval(self.param_str)`.
We read YAML with PyYAML's safe loader plus the tags that only build plain data (tuples, lists, numbers,
strings), and Python with `ast.literal_eval`; anything that would construct an object or run code is
refused with the reason, and the layer is then unknown rather than guessed.
"""
from __future__ import annotations

import ast
from typing import Any

import yaml

# Longer text is not a configuration dictionary anyone writes by hand; it also bounds the work of
# both readers (YAML aliases and deep nesting included).
MAX_PARAM_STR = 10_000

# The python/* tags of PyYAML's full loader that build plain data only (yaml/constructor.py
# FullConstructor); python/object, python/name, python/module and the like stay refused.
_PLAIN_PYTHON_TAGS = ("none", "bool", "int", "float", "str", "unicode", "bytes", "list", "tuple", "dict")
_PYTHON_TAG = "tag:yaml.org,2002:python/"


class ParamStrError(ValueError):
    """param_str that the module's own reader would not turn into a dictionary of plain values."""


class _ParamStrLoader(yaml.SafeLoader):
    """SafeLoader plus the plain-data python/* tags; every other tag is a ConstructorError."""


def _construct_tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple[Any, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(None, None, "!!python/tuple needs a sequence", node.start_mark)
    return tuple(loader.construct_sequence(node, deep=True))


def _plain_constructor(kind: str) -> Any:
    base = {"none": "null", "unicode": "str", "list": "seq", "dict": "map", "bytes": "binary"}.get(kind, kind)
    return yaml.SafeLoader.yaml_constructors[f"tag:yaml.org,2002:{base}"]


for _kind in _PLAIN_PYTHON_TAGS:
    _ParamStrLoader.add_constructor(f"{_PYTHON_TAG}{_kind}",
                                    _construct_tuple if _kind == "tuple" else _plain_constructor(_kind))


def _bounded(text: str) -> str:
    if len(text) > MAX_PARAM_STR:
        raise ParamStrError(f"param_str is {len(text)} characters long; blobcalc reads at most {MAX_PARAM_STR}")
    return text


def read_yaml_param_str(text: str) -> dict[Any, Any]:
    """param_str as py-faster-rcnn's `yaml.load` reads it: `'feat_stride': 16\\n'scales': !!python/tuple
    [4, 8, 16, 32]` → {'feat_stride': 16, 'scales': (4, 8, 16, 32)}. Empty text is {} (the modules
    then fail on the first missing key, which the rules report)."""
    try:
        value = yaml.load(_bounded(text), Loader=_ParamStrLoader)
    except yaml.constructor.ConstructorError as exc:
        raise ParamStrError(f"param_str {text!r} uses a YAML tag blobcalc never constructs "
                            f"({exc.problem}); only plain data tags such as !!python/tuple are read") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ParamStrError(f"param_str {text!r} is not YAML: {' '.join(str(exc).split())}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParamStrError(f"param_str {text!r} is YAML but not a mapping (the module indexes it by key)")
    return value


def read_literal_param_str(text: str) -> dict[Any, Any]:
    """param_str as FCN's and ENet's `eval(self.param_str)` reads it, limited to a Python literal:
    `{'voc_dir': '../data', 'mean': (104.0, 116.7, 122.7)}`."""
    try:
        value = ast.literal_eval(_bounded(text).strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ParamStrError(f"param_str {text!r} is not a Python literal; blobcalc never evaluates code") from None
    if not isinstance(value, dict):
        raise ParamStrError(f"param_str {text!r} is a Python literal but not a dictionary (the module indexes "
                            "it by key)")
    return value
