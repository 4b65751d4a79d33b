"""Settings: the frozen dataclasses that describe an experiment, and the cache key derived from them.

Every experiment's configuration is a frozen dataclass that inherits `Settings`. Its `cache_key()` is all
of its fields, except those it names in `NOT_IN_KEY` (a sweep's number of rounds, say, which only decides
how far it goes, not what any round computes). A new field therefore changes the key by default: a cached
result can never be served for settings it was not computed with.
"""

from dataclasses import field, fields, is_dataclass

from ltkit.errors import LtkitError


class Settings:
    """What every settings dataclass shares: a plain dict of its fields, and a cache key."""

    NOT_IN_KEY = ()  # fields that do not change any cached result

    def to_dict(self):
        """All fields as plain Python values (nested settings as dicts, tuples as lists), for JSON. An int
        given for a float setting is that float: lr=1 and lr=1.0 are one setting, with one cache key."""
        as_declared = lambda f, value: float(value) if f.type is float and type(value) is int else value
        return {f.name: plain(as_declared(f, getattr(self, f.name))) for f in fields(self)}

    def cache_key(self):
        """The fields that decide what is computed: to_dict() without NOT_IN_KEY."""
        return {name: value for name, value in self.to_dict().items() if name not in self.NOT_IN_KEY}


def plain(value):
    if isinstance(value, Settings):
        return value.to_dict()
    if is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def check_fields(given, settings_class, function, fixed=("dataset", "model", "train")):
    """Refuse keyword arguments that are not fields of `settings_class`, naming the ones that are."""
    allowed = [f.name for f in fields(settings_class) if f.name not in fixed]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise LtkitError(f"{function}() has no setting {', '.join(unknown)}; the settings are: {', '.join(allowed)}")


def setting(default, help, **metadata):
    """A field of a settings dataclass with its help text (the command line's --help shows it). metadata:
    `flag` (the option's name when it is not the field's), `aliases` (older option names), `choices`,
    `none_flag` (a tuple's option for none of its items)."""
    return field(default=default, metadata=dict(help=help, **metadata))
