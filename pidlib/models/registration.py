"""The family registry: config class -> adapter class (+ the transformers model class).

Each adapter class registers itself beside its definition::

    @register_adapter("LlavaNextConfig", model_class="LlavaNextForConditionalGeneration")
    class LlavaNextAdapter(Adapter):
        ...

so adding a family is one class in one place (as lmms-eval's ``@register_model``). Keys
are config class *names* (``type(AutoConfig.from_pretrained(...)).__name__``), so
registering never imports a transformers model module. :func:`refuse` records a config
class that is recognised but not supported, with the reason given to the user.
"""
from __future__ import annotations

from pidlib.models.base import Adapter, AdapterError

__all__ = ["register_adapter", "refuse", "adapter_class_for_config", "model_class_name", "FAMILIES",
           "UNSUPPORTED", "CAMBRIAN_MESSAGE"]

#: config class name -> (adapter class, model class name in transformers)
FAMILIES: dict[str, tuple[type[Adapter], str]] = {}

#: config class name -> why it is not supported
UNSUPPORTED: dict[str, str] = {}

CAMBRIAN_MESSAGE = ("Cambrian is not part of transformers (it needs the authors' own code); "
                    "pidlib supports only model classes native to transformers.")


def _name(config_class) -> str:
    return config_class if isinstance(config_class, str) else config_class.__name__


def register_adapter(*config_classes, model_class: str):
    """Class decorator: use the decorated :class:`Adapter` for these config classes.

    Parameters
    ----------
    *config_classes : str or type
        Config classes (or their names), e.g. ``"LlavaConfig"``.
    model_class : str
        The transformers model class ``from_pretrained`` loads, e.g.
        ``"LlavaForConditionalGeneration"``.

    Raises
    ------
    ValueError
        When a config class is already registered to another adapter.
    """
    if not config_classes:
        raise ValueError("register_adapter needs at least one config class")

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise TypeError(f"register_adapter decorates Adapter subclasses, got {cls!r}")
        for c in config_classes:
            key = _name(c)
            old = FAMILIES.get(key)
            if old is not None and (old[0].__qualname__, old[0].__module__) != (cls.__qualname__, cls.__module__):
                raise ValueError(f"config class {key} is already registered to {old[0].__name__}")
            FAMILIES[key] = (cls, str(model_class))
            UNSUPPORTED.pop(key, None)
        return cls

    return deco


def refuse(config_class, reason: str) -> None:
    """Record a recognised but unsupported config class and the reason shown to users."""
    key = _name(config_class)
    if key in FAMILIES:
        raise ValueError(f"config class {key} is registered to {FAMILIES[key][0].__name__}")
    UNSUPPORTED[key] = reason


def adapter_class_for_config(config) -> type[Adapter]:
    """The adapter class of ``config`` (an instance of a config class).

    Raises
    ------
    AdapterError
        For a refused family (with its reason), Cambrian, or an unknown config class
        (naming the supported ones).
    """
    import pidlib.models.families  # noqa: F401  (the built-in families register on import)

    name = type(config).__name__
    if name in FAMILIES:
        return FAMILIES[name][0]
    if name in UNSUPPORTED:
        raise AdapterError(UNSUPPORTED[name])
    mt = str(getattr(config, "model_type", "")).lower()
    if "cambrian" in mt or "cambrian" in name.lower():
        raise AdapterError(CAMBRIAN_MESSAGE)
    raise AdapterError(f"unsupported model family: config class {name} (model_type {mt!r}); "
                       f"supported: {', '.join(sorted(FAMILIES))}")


def model_class_name(config) -> str:
    """The transformers model class registered for ``config``'s class."""
    adapter_class_for_config(config)
    return FAMILIES[type(config).__name__][1]
