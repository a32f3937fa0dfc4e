"""English and Russian: every learner-facing text has both versions, the locale chooses, and the Russian
renderings of the lecture's three examples speak the lecture's own notation."""

from __future__ import annotations

import re

import pytest

from chainrule import cli
from chainrule.errors import ConfigError
from chainrule.explain import lecture
from chainrule.lang import CATALOGS, LANGUAGES, Catalog, default_language, resolve

# importing them registers their catalogs
import chainrule.commands.demo  # noqa: F401, E402  isort: skip
import chainrule.exercise.catalog  # noqa: F401, E402  isort: skip
import chainrule.exercise.messages  # noqa: F401, E402  isort: skip
import chainrule.explain.words  # noqa: F401, E402  isort: skip

CYRILLIC = re.compile(r"[а-яА-ЯёЁ]")


def test_every_text_has_an_english_and_a_russian_version():
    assert {"exercise", "exercise checks", "exercise hints", "exercise titles", "explain", "demo"} <= set(CATALOGS)
    for catalog in CATALOGS.values():
        for key, versions in catalog.texts.items():
            assert set(versions) == set(LANGUAGES), (catalog.name, key)
            assert not CYRILLIC.search(versions["en"]), (catalog.name, key, versions["en"])
            if re.search(r"[A-Za-z]{4,}", versions["en"].replace("gradcheck", "")):  # words, not only maths
                assert CYRILLIC.search(versions["ru"]), (catalog.name, key, versions["ru"])


def test_a_catalog_refuses_a_missing_language_or_mismatched_fields():
    with pytest.raises(ConfigError, match="'a' has no ru version"):
        Catalog("test-missing", {"a": {"en": "one"}})
    with pytest.raises(ConfigError, match="uses different fields"):
        Catalog("test-fields", {"a": {"en": "{n} checks", "ru": "{m} проверок"}})
    CATALOGS.pop("test-missing", None)
    CATALOGS.pop("test-fields", None)


@pytest.mark.parametrize("env, lang", [
    ({"LANG": "ru_RU.UTF-8"}, "ru"), ({"LANG": "C.UTF-8"}, "en"), ({"LANG": "de_DE.UTF-8"}, "en"), ({}, "en"),
    ({"LC_ALL": "ru_RU.UTF-8", "LANG": "en_US.UTF-8"}, "ru"), ({"LC_MESSAGES": "en_GB", "LANG": "ru_RU"}, "en"),
    ({"LANG": "ru"}, "ru"),
])
def test_the_locale_chooses_the_language(env, lang):
    assert default_language(env) == lang


def test_resolve_refuses_an_unknown_language():
    assert resolve("RU") == "ru"
    with pytest.raises(ConfigError, match="lang must be one of en, ru"):
        resolve("de")


#: The lecture's own terms (its outline, 000_c0091fdd03c9173a.txt): forward pass, backward pass, upstream
#: gradient, local derivative, chain rule, cache, and its letters E, F, G, H.
LECTURE_TERMS = ["Прямой проход", "Обратный проход", "upstream-градиент", "локальная производная",
                 "Цепное правило", "cache"]


def test_the_first_example_in_russian_is_the_lectures():
    text = lecture(1, lang="ru").render("text")
    for term in LECTURE_TERMS:
        assert term in text, term
    assert text.startswith("Трассировка H = (A + B) * (C - D) * 2")
    for step in ("E = A + B", "F = C − D", "G = E · F", "H = G · 2"):  # E, F, G and H, kept: the cache
        assert step in text
    assert "∂H/∂G · ∂G/∂E · ∂E/∂A" in text  # dH/dA = dH/dG · dG/dE · dE/dA, as the lecture writes it
    assert "gradcheck: пройдена" in text and "English" not in text


def test_the_second_example_in_russian_sums_two_paths():
    text = lecture(2, lang="ru").render("text")
    for term in LECTURE_TERMS:
        assert term in text, term
    assert "сумма 2 путей" in text and "через G" in text and "через F" in text
    assert "∂H/∂F · ∂F/∂E · ∂E/∂A + ∂H/∂G · ∂G/∂E · ∂E/∂A" in text


def test_the_third_example_in_russian_is_linear_regression():
    text = lecture(3, lang="ru").render("md")
    for term in LECTURE_TERMS:
        assert term in text, term
    assert "μ = X @ θ" in text and "Δ = μ − Y" in text and "∂L/∂θ" in text
    assert "| θ | 2 |" in text and "нужен" in text  # θ wanted, X and Y held as data ("—")
    html = lecture(3, lang="ru").render("html")
    assert '<html lang="ru">' in html and "Цепное правило" in html
    assert "шаг вперёд ▶" in html and "Шаг 1 из 9 · прямой проход: μ = X @ θ" in html


def test_english_stays_the_default_and_the_same():
    en = lecture(1).render("text")
    assert en.startswith("Trace of H = (A + B) * (C - D) * 2") and not CYRILLIC.search(en)
    assert en == lecture(1, lang="en").render("text")


def test_explain_on_the_command_line_in_russian(capsys, monkeypatch):
    assert cli.main(["explain", "(a + b) * c", "a=1", "b=2", "c=3", "--lang", "ru"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Трассировка") and "Обратный проход" in out
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    assert cli.main(["explain", "--lecture", "2"]) == 0
    assert "сумма 2 путей" in capsys.readouterr().out
    assert cli.main(["explain", "--lecture", "2", "--lang", "en"]) == 0
    assert "sum of 2 paths" in capsys.readouterr().out
