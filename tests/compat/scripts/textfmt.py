"""Byte formatting shared by the compat scripts (stdlib only, no etcd3)."""


def b(x):
    """bytes -> printable repr, stable across runs."""
    if x is None:
        return "None"
    if isinstance(x, str):
        x = x.encode("utf-8")
    return repr(bytes(x))
