"""A timm-like model registry: ``@register_model``, ``list_models``, ``create_model``.

Every model family module decorates one constructor per named architecture::

    @register_model
    def resnet18(num_classes=1000, in_channels=3, image_size=224, **kwargs): ...

and the user builds it by name::

    model = create_model("resnet18", num_classes=10, in_channels=1, image_size=28)

Every registered constructor takes the keyword arguments ``num_classes``,
``in_channels`` and ``image_size`` (the side of the square input it is built
for; models switch to a small-image stem below 64 pixels, see each family's
module docstring) plus family-specific keyword arguments.

The registry is a plain dictionary filled when the model modules are imported
(``adlab.vision`` imports all of them), so ``list_models()`` always sees every
family.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable

import torch.nn as nn

__all__ = [
    "register_model",
    "list_models",
    "create_model",
    "is_model",
    "model_entrypoint",
    "model_family",
]

# name -> constructor; name -> family (the defining module's last component)
_MODEL_ENTRYPOINTS: dict[str, Callable[..., nn.Module]] = {}
_MODEL_FAMILY: dict[str, str] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *, name: str | None = None):
    """Register a model constructor under ``name`` (default: the function's name).

    Usable bare (``@register_model``) or with a name (``@register_model(name="wrn28_10")``).
    Registering a different function under a name already taken raises ``ValueError``.
    """

    def decorator(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or f.__name__
        previous = _MODEL_ENTRYPOINTS.get(key)
        if previous is not None and (previous.__module__, previous.__qualname__) != (
            f.__module__,
            f.__qualname__,
        ):
            raise ValueError(f"model name {key!r} is already registered by {previous.__module__}")
        _MODEL_ENTRYPOINTS[key] = f
        _MODEL_FAMILY[key] = f.__module__.rsplit(".", 1)[-1]
        return f

    if fn is not None:
        return decorator(fn)
    return decorator


def list_models(pattern: str | Iterable[str] = "*", family: str | None = None) -> list[str]:
    """Sorted names of the registered models matching ``pattern``.

    ``pattern`` is an ``fnmatch`` wildcard (``"resnet*"``, ``"vgg1?_bn"``) or a list of
    them (a name matching any is kept); ``family`` restricts to one module
    (``"resnet"``, ``"vgg"``, ...).
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    names = [
        n
        for n in _MODEL_ENTRYPOINTS
        if any(fnmatch.fnmatchcase(n, p) for p in patterns)
        and (family is None or _MODEL_FAMILY[n] == family)
    ]
    return sorted(names, key=_natural_key)


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model."""
    return name in _MODEL_ENTRYPOINTS


def model_family(name: str) -> str:
    """The family (defining module) of a registered model, e.g. ``"resnet"``."""
    model_entrypoint(name)
    return _MODEL_FAMILY[name]


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The constructor registered under ``name``.

    Raises ``ValueError`` naming the closest registered names (``difflib``) when
    ``name`` is unknown.
    """
    try:
        return _MODEL_ENTRYPOINTS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_MODEL_ENTRYPOINTS), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} (adlab.vision.list_models() lists all "
            f"{len(_MODEL_ENTRYPOINTS)} models)"
        ) from None


def create_model(
    name: str,
    num_classes: int = 1000,
    in_channels: int = 3,
    image_size: int = 224,
    **kwargs,
) -> nn.Module:
    """Build the registered model ``name``.

    Args:
        name: a name from :func:`list_models`.
        num_classes: size of the classifier output.
        in_channels: channels of the input image (1 for Fashion-MNIST, 3 for RGB).
        image_size: side of the square input the model is built for; below 64 the
            families use their small-image stems (documented per family).
        **kwargs: family-specific options (``dropout``, ``se_reduction``, ...).
    """
    fn = model_entrypoint(name)
    return fn(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)


def _natural_key(name: str) -> list:
    """Sort ``resnet18 < resnet34 < resnet101`` (numbers compared as numbers)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
