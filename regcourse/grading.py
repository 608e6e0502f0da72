"""Check helpers for the graded exercises' test cells, made hard to fool from inside the student's kernel.

A student's code runs in the same Python process as the tests, so a one-liner such as
``torch.allclose = lambda *a, **k: True`` or a redefined helper would make naive tests pass. Every test cell
therefore starts with::

    import importlib, regcourse.grading as G
    G = importlib.reload(G)     # re-run this file: a patched or redefined helper is replaced

and the helpers here

* never call anything a student can replace: values are read with methods of the C type
  ``torch._C.TensorBase`` and numpy's ``ndarray`` (both immutable types) and compared with plain Python float
  arithmetic on the extracted numbers;
* accept only real values: a ``torch.Tensor``/``nn.Parameter``, a numpy array, a Python or numpy number, or a
  list/tuple of those. An object whose comparisons always succeed is rejected with a message;
* check, before every comparison, that the functions students (and the chapters) compare with are still
  torch's own (``torch.allclose``, ``torch.isclose``, ``torch.equal``, the comparison operators of
  ``torch.Tensor``, a few builtins), and fail the test with a message naming what was replaced.

Each failure is an ``AssertionError`` whose message says what is wrong in the student's terms.
"""
from __future__ import annotations

import builtins as _builtins
import importlib as _importlib
import types as _types

import numpy as _np
import torch as _torch

_TB = _torch._C.TensorBase            # immutable C type: its methods cannot be patched
_VF = _torch._C._VariableFunctions    # read-only attributes: torch.allclose etc. are these objects
_FLOAT = (1.0).__class__              # taken from literals: cannot be shadowed by rebinding builtins
_INT = (1).__class__
_BOOL = (True).__class__
_LIST = [].__class__
_TUPLE = ().__class__
_STR = "".__class__
_TYPE = _INT.__class__
_HEAPTYPE = 1 << 9                    # Py_TPFLAGS_HEAPTYPE: set for classes written in Python
_tolist = _TB.tolist
_detach = _TB.detach
_ndarray_tolist = _np.ndarray.tolist
_REAL_TENSOR_TYPES = (_torch.Tensor, _torch.nn.Parameter)
_NUMPY_SCALARS = (_np.float64, _np.float32, _np.float16, _np.int64, _np.int32)

# torch functions that must be the C originals.
_TORCH_FUNCTIONS = ("allclose", "isclose", "equal", "eq", "ne", "lt", "le", "gt", "ge", "abs", "sum",
                    "all", "any", "isfinite", "max", "min", "mean", "var")
# torch.Tensor methods that, in an untouched torch, are inherited from the C type (not defined in Python).
_TENSOR_METHODS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__float__",
                   "__int__", "tolist", "item", "allclose", "isclose", "equal", "eq", "ne", "all",
                   "any", "abs", "sum", "max", "min", "mean", "var", "float", "double", "numpy", "size",
                   "dim", "numel", "clone", "reshape")
_BUILTINS = ("abs", "len", "isinstance", "float", "int", "type", "max", "min", "sum", "all", "any", "round",
             "range", "zip", "enumerate", "sorted", "list", "tuple", "repr", "str", "bool")
_BUILTIN_TYPES = {"float": _FLOAT, "int": _INT, "list": _LIST, "tuple": _TUPLE, "type": _TYPE,
                  "str": _STR, "bool": _BOOL}


def _fail(message: str):
    raise AssertionError(message)


def tampered() -> list:
    """Names of comparison machinery that is no longer torch's/Python's own (empty if all is well)."""
    bad = []
    for name in _TORCH_FUNCTIONS:
        if getattr(_torch, name, None) is not getattr(_VF, name, object()):
            bad.append(f"torch.{name}")
    tensor_dict = _torch.Tensor.__dict__
    for name in _TENSOR_METHODS:
        if name in tensor_dict or name in _torch.nn.Parameter.__dict__:
            bad.append(f"torch.Tensor.{name}")
    if _TB not in _torch.Tensor.__mro__ or _torch.Tensor.__module__ != "torch":
        bad.append("torch.Tensor")
    for name in _BUILTINS:
        f = _builtins.__dict__.get(name)
        if name in _BUILTIN_TYPES:
            if f is not _BUILTIN_TYPES[name]:
                bad.append(f"builtins.{name}")
        elif f.__class__ is _TYPE:  # range, zip, enumerate: C types are not heap types, a class is
            if f.__flags__ & _HEAPTYPE or f.__name__ != name or f.__module__ != "builtins":
                bad.append(f"builtins.{name}")
        elif f.__class__ is not _types.BuiltinFunctionType or f.__name__ != name \
                or getattr(f, "__self__", None) is not _builtins:
            bad.append(f"builtins.{name}")
    reload = _importlib.__dict__.get("reload")
    if reload.__class__ is not _types.FunctionType or reload.__module__ != "importlib" \
            or reload.__code__.co_filename != _importlib.__file__:
        bad.append("importlib.reload")
    return bad


def check_environment() -> None:
    """Fail if anything the tests rely on was replaced (e.g. ``torch.allclose = lambda *a, **k: True``)."""
    bad = tampered()
    if bad:
        _fail("These functions were replaced in your notebook: " + ", ".join(bad) + ". Tests cannot trust "
              "a comparison you redefined, so this test fails. Remove the line(s) that assign to them "
              "(restart the kernel), and let your code compute the right answer instead.")


def _flatten(value, name):
    """(shape, list of Python floats) of a real numeric value; anything else fails with a message."""
    t = value.__class__   # the real class; isinstance() could be fooled by a __class__ property
    if t in _REAL_TENSOR_TYPES:
        return _TUPLE(_TB.size(value)), _tolist(_TB.double(_TB.reshape(_detach(value), (-1,))))
    if t is _np.ndarray:
        data = _ndarray_tolist(value.astype(_np.float64).reshape(-1))
        return _TUPLE(value.shape), data
    if t is _FLOAT or t is _INT or t in _NUMPY_SCALARS:
        return (), [_FLOAT(value)]
    if t is _BOOL:
        _fail(f"{name} is a bool ({value!r}); a number or tensor was expected.")
    if t is _LIST or t is _TUPLE:
        shapes, data = [], []
        for item in value:
            s, d = _flatten(item, name)
            shapes.append(s)
            data.extend(d)
        if shapes and any(s != shapes[0] for s in shapes):
            _fail(f"{name} is a ragged list: its items have different shapes {shapes[:4]}...")
        return ((len(value),) + (shapes[0] if shapes else ())), data
    _fail(f"{name} should be a torch.Tensor, a number or a list of numbers, but it is a "
          f"{t.__module__}.{t.__qualname__}. Return the value your code computed (a tensor or float), "
          "not another kind of object.")


def values(value, name: str = "the result") -> list:
    """The numbers in ``value`` (tensor/array/number/list), flattened, as Python floats."""
    check_environment()
    return _flatten(value, name)[1]


def shape(value, name: str = "the result") -> tuple:
    check_environment()
    return _flatten(value, name)[0]


def scalar(value, name: str = "the result") -> float:
    """A single finite Python float from a number or one-element tensor/array."""
    check_environment()
    s, data = _flatten(value, name)
    if len(data) != 1:
        _fail(f"{name} should be a single number, but it has shape {s} ({len(data)} values).")
    x = data[0]
    if not (x == x) or x in (float("inf"), float("-inf")):
        _fail(f"{name} is {x}: it should be a finite number. Check for a division by zero or a "
              "learning rate that makes training diverge.")
    return x


def is_real_tensor(value) -> bool:
    """True for a torch.Tensor/nn.Parameter (not a subclass that could override comparisons)."""
    return value.__class__ in _REAL_TENSOR_TYPES


def assert_tensor(value, name: str = "the result"):
    check_environment()
    if not is_real_tensor(value):
        t = value.__class__
        _fail(f"{name} should be a torch.Tensor, but it is a {t.__module__}.{t.__qualname__}.")


def assert_shape(value, expected, name: str = "the result"):
    s = shape(value, name)
    expected = _TUPLE(expected)
    if s != expected:
        _fail(f"{name} has shape {s}, expected {expected}.")


def assert_finite(value, name: str = "the result"):
    for x in values(value, name):
        if not (x == x) or x in (float("inf"), float("-inf")):
            _fail(f"{name} contains {x}: every value should be a finite number.")


def assert_close(actual, expected, name: str = "the result", *, rtol: float = 1e-5, atol: float = 1e-8,
                 hint: str = ""):
    """Elementwise |actual - expected| <= atol + rtol * |expected|, computed on Python floats.

    Shapes must match, except that a scalar may stand for a one-element tensor."""
    check_environment()
    sa, a = _flatten(actual, name)
    se, e = _flatten(expected, "the reference")
    if len(a) != len(e) or (sa != se and len(a) != 1):
        _fail(f"{name} has shape {sa}, expected {se}." + (" " + hint if hint else ""))
    worst, where, i, n = -1.0, 0, -1, len(a)
    while i + 1 < n:   # no range(): a rebound builtin could make the loop empty
        i += 1
        x, y = a[i], e[i]
        if not (x == x):
            _fail(f"{name} contains NaN (at flat index {i}); expected {y:.6g}." + (" " + hint if hint else ""))
        d = x - y
        if d < 0:
            d = -d
        tol = atol + rtol * (y if y >= 0 else -y)
        excess = d - tol
        if excess > worst:
            worst, where = excess, i
    if worst > 0:
        _fail(f"{name} is wrong: at flat index {where} it is {a[where]:.6g} but should be {e[where]:.6g} "
              f"(tolerance {atol:g} + {rtol:g}*|expected|)." + (" " + hint if hint else ""))


def assert_not_close(actual, other, name: str = "the result", *, rtol: float = 1e-5, atol: float = 1e-8,
                     hint: str = ""):
    """The opposite of :func:`assert_close`: some element differs by more than the tolerance."""
    check_environment()
    _, a = _flatten(actual, name)
    _, e = _flatten(other, "the other value")
    if len(a) == len(e):
        i, n = -1, len(a)
        while i + 1 < n:
            i += 1
            d = a[i] - e[i]
            if d < 0:
                d = -d
            if d > atol + rtol * (e[i] if e[i] >= 0 else -e[i]) or not (d == d):
                return
        _fail(f"{name} should differ from the other value but is equal to it within {rtol:g}." +
              (" " + hint if hint else ""))
