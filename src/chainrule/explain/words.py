"""Every word a trace's renderings show, in English and Russian, in the lecture's terms.

The Russian follows the lecture's own notation: «прямой проход» (forward pass), «обратный проход»
(backward pass), «upstream-градиент», «локальная производная», «цепное правило», «cache»; the
mathematics (E, F, G, H, ∂H/∂A = ∂H/∂G · ∂G/∂E · ∂E/∂A) is the same in both.
"""

from __future__ import annotations

from ..lang import Catalog

WORDS = Catalog("explain", {
    "trace_of": {"en": "Trace of {title}", "ru": "Трассировка {title}"},
    "inputs": {"en": "Inputs", "ru": "Входы"},
    "name": {"en": "name", "ru": "имя"},
    "shape": {"en": "shape", "ru": "форма"},
    "scalar": {"en": "scalar", "ru": "скаляр"},
    "value": {"en": "value", "ru": "значение"},
    "gradient": {"en": "gradient", "ru": "градиент"},
    "wanted": {"en": "wanted", "ru": "нужен"},
    "forward": {"en": "Forward pass (compute and keep every intermediate: the cache)",
                "ru": "Прямой проход (forward pass): вычисляем и сохраняем все промежуточные значения (cache)"},
    "step": {"en": "step", "ru": "шаг"},
    "operation": {"en": "operation", "ru": "операция"},
    "operands": {"en": "inputs", "ru": "входы"},
    "backward": {"en": "Backward pass (upstream gradient × local derivative, passed down; summed where paths meet)",
                 "ru": "Обратный проход (backward pass): upstream-градиент × локальная производная, передаём вниз; "
                       "где пути сходятся, градиенты суммируются"},
    "at": {"en": "at", "ru": "где"},
    "upstream": {"en": "upstream", "ru": "upstream-градиент"},
    "local": {"en": "local derivative", "ru": "локальная производная"},
    "its_value": {"en": "its value", "ru": "её значение"},
    "passed_down": {"en": "passed down", "ru": "передаём вниз"},
    "start": {"en": "start", "ru": "начало"},
    "sum_of_paths": {"en": "sum of {n} paths", "ru": "сумма {n} путей"},
    "via": {"en": "via {name}", "ru": "через {name}"},
    "chain": {"en": "Chain rule (sum over paths of the product of local derivatives)",
              "ru": "Цепное правило: сумма по путям произведений локальных производных"},
    "paths": {"en": "paths", "ru": "пути"},
    "result": {"en": "Result", "ru": "Результат"},
    "finite_differences": {"en": "finite differences", "ru": "конечные разности"},
    "more_paths": {"en": "more paths than written out", "ru": "путей больше, чем выписано"},
    "no_path": {"en": "no path (0)", "ru": "нет пути (0)"},
    "note": {"en": "note", "ru": "замечание"},
    "check_not_run": {"en": "gradcheck: not run ({reason})", "ru": "gradcheck: не выполнялась ({reason})"},
    "check": {"en": "gradcheck: {verdict}; largest deviation from central finite differences {error} (eps {eps}, "
                    "tolerance {atol} + {rtol}·|numeric|)",
              "ru": "gradcheck: {verdict}; наибольшее отклонение от центральных конечных разностей {error} "
                    "(eps {eps}, допуск {atol} + {rtol}·|численная|)"},
    "check_passed": {"en": "passed", "ru": "пройдена"},
    "check_failed": {"en": "FAILED", "ru": "НЕ ПРОЙДЕНА"},
    "recorded": {"en": "Recorded backward graph of {d} (create_graph=True: the ops the backward pass recorded, and "
                       "the forward ones whose values they use)",
                 "ru": "Записанный граф обратного прохода для {d} (create_graph=True: операции, которые записал "
                       "обратный проход, и операции прямого прохода, чьи значения они используют)"},
    "constant": {"en": "{d} is a constant: nothing is recorded", "ru": "{d} — константа: ничего не записано"},
    "second": {"en": "Second derivatives (the recorded backward graph, differentiated again)",
               "ru": "Вторые производные (записанный граф обратного прохода, продифференцированный ещё раз)"},
    "second_check": {"en": "Second-derivative check", "ru": "Проверка вторых производных"},
    "check_result": {"en": "result", "ru": "результат"},
    # the LaTeX rendering's own words
    "held_constant": {"en": "held constant", "ru": "постоянная"},
    "forward_short": {"en": "Forward pass", "ru": "Прямой проход"},
    "backward_short": {"en": "Backward pass", "ru": "Обратный проход"},
    "backward_intro": {"en": "Each op receives the upstream gradient, multiplies it by its local derivative and passes "
                             "the result down; contributions arriving along several paths are summed.",
                       "ru": "Каждая операция получает upstream-градиент, умножает его на свою локальную производную "
                             "и передаёт результат вниз; вклады, пришедшие по нескольким путям, суммируются."},
    "chain_short": {"en": "The chain rule", "ru": "Цепное правило"},
    "recorded_short": {"en": "Recorded backward graph of", "ru": "Записанный граф обратного прохода для"},
    "second_short": {"en": "Second derivatives", "ru": "Вторые производные"},
    "array": {"en": "{shape} array", "ru": "массив {shape}"},
    # the interactive page's step panel
    "page_step": {"en": "Step {k} of {n}", "ru": "Шаг {k} из {n}"},
    "page_forward": {"en": "forward: {formula}", "ru": "прямой проход: {formula}"},
    "page_start": {"en": "backward: start at {name}", "ru": "обратный проход: начинаем с {name}"},
    "page_sum": {"en": "backward: sum the paths into {name}", "ru": "обратный проход: суммируем пути в {name}"},
    "page_at": {"en": "backward: at {formula}", "ru": "обратный проход: в {formula}"},
    "constants_only": {"en": "constants only", "ru": "только константы"},
    "kept": {"en": "kept for the backward pass", "ru": "сохранено для обратного прохода"},
    "sum": {"en": "sum", "ru": "сумма"},
    "phase_start": {"en": "start", "ru": "начало"},
    "phase_forward": {"en": "forward pass", "ru": "прямой проход"},
    "phase_backward": {"en": "backward pass", "ru": "обратный проход"},
    "counter": {"en": "step {k} of {n}", "ru": "шаг {k} из {n}"},
    "reset": {"en": "↺ reset", "ru": "↺ сначала"},
    "reset_title": {"en": "back to the start", "ru": "к началу"},
    "prev": {"en": "◀ step backward", "ru": "◀ шаг назад"},
    "prev_title": {"en": "previous step (←)", "ru": "предыдущий шаг (←)"},
    "next": {"en": "step forward ▶", "ru": "шаг вперёд ▶"},
    "next_title": {"en": "next step (→)", "ru": "следующий шаг (→)"},
    # the lecture's three worked examples
    "lecture_1": {"en": "The computational graph of +, −, ×: compute E, F, G and the output H, then go backwards",
                  "ru": "Вычислительный граф из +, −, ×: вычисляем E, F, G и выход H, затем идём назад"},
    "lecture_2": {"en": "A square, and a value on two paths: the gradients arriving along them are summed",
                  "ru": "Квадрат и значение на двух путях: пришедшие по ним градиенты суммируются"},
    "lecture_3": {"en": "Linear regression as a graph: μ = Xθ, Δ = μ − Y, L = ΣΔ²",
                  "ru": "Линейная регрессия как граф: μ = Xθ, Δ = μ − Y, L = ΣΔ²"},
})

__all__ = ["WORDS"]
