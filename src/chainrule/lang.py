"""The two languages of the learner-facing texts: English and Russian (the lecture's own).

Every text a learner reads (explain's tables and sentences, the exercises' templates, check
reports and hints, the demo's headings) is written in both. A module keeps its texts in one
:class:`Catalog`, each key with its English and Russian version side by side, registered here so
a test can prove that none lacks a language::

    MESSAGES = Catalog("exercise", {
        "passed": {"en": "all {n} checks passed", "ru": "все проверки ({n}) пройдены"},
    })
    MESSAGES.text("passed", "ru", n=3)

The language is chosen by ``--lang en|ru`` on the command line, ``lang=`` in the API, and
otherwise by the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``: a value starting with ``ru``
gives Russian), English when none says.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigError

#: The languages, English first (the fallback).
LANGUAGES = ("en", "ru")

#: Every catalog made, by name: the test of both languages walks them all.
CATALOGS: dict[str, Catalog] = {}


def default_language(environ: Mapping[str, str] | None = None) -> str:
    """The locale's language if it is one of :data:`LANGUAGES`, else English.

    As gettext does, the first of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is set decides
    (``ru_RU.UTF-8`` -> ``ru``; ``C.UTF-8``, ``de_DE`` -> ``en``).
    """
    env = os.environ if environ is None else environ
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key)
        if value:
            code = value.split(".")[0].split("_")[0].lower()
            return code if code in LANGUAGES else "en"
    return "en"


def resolve(lang: str | None) -> str:
    """``lang`` checked (``None``: :func:`default_language`)."""
    if lang is None:
        return default_language()
    if not isinstance(lang, str) or lang.lower() not in LANGUAGES:
        raise ConfigError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return lang.lower()


class Catalog:
    """Texts by key, each in every language of :data:`LANGUAGES`; ``str.format`` fields allowed.

    Raises
    ------
    ConfigError : at construction, a key without one of the languages, or whose versions use
        different ``{fields}`` (a translation that would fail to format).
    """

    def __init__(self, name: str, texts: Mapping[str, Mapping[str, str]]):
        import string

        for key, versions in texts.items():
            missing = [lang for lang in LANGUAGES if not versions.get(lang)]
            if missing:
                raise ConfigError(f"catalog {name}: {key!r} has no {', '.join(missing)} version")
            fields = {lang: {f for _, f, _, _ in string.Formatter().parse(versions[lang]) if f}
                      for lang in LANGUAGES}
            if len({frozenset(f) for f in fields.values()}) != 1:
                raise ConfigError(f"catalog {name}: {key!r} uses different fields in its versions: {fields}")
        self.name = name
        self.texts = {key: dict(versions) for key, versions in texts.items()}
        CATALOGS[name] = self

    def text(self, key: str, lang: str | None = None, **fields) -> str:
        """The text of ``key`` in ``lang`` (default: the locale's), its fields filled in."""
        template = self.texts[key][resolve(lang)]
        return template.format(**fields)

    def __contains__(self, key: str) -> bool:
        return key in self.texts


__all__ = ["LANGUAGES", "CATALOGS", "Catalog", "default_language", "resolve"]
