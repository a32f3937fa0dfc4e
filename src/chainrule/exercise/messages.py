"""What ``chainrule exercise`` says, in English and Russian: the report's words, what each check is,
and the hints, written in the lecture's words (upstream gradient, local derivative, cache, paths)."""

from __future__ import annotations

from ..lang import Catalog

MESSAGES = Catalog("exercise", {
    "list_header": {"en": "The exercises, in the lecture's order (chainrule exercise init NAME [DIR] writes one):",
                    "ru": "Задания в порядке лекции (chainrule exercise init ИМЯ [ПАПКА] создаёт файл):"},
    "list_point": {"en": "lecture point {point}", "ru": "пункт лекции {point}"},
    "wrote": {"en": "wrote {path}", "ru": "создан {path}"},
    "kept": {"en": "kept {path}: it exists, and init never overwrites a file",
             "ru": "оставлен {path}: файл уже есть, init никогда не перезаписывает файлы"},
    "next": {"en": "next: fill in every TODO (raise NotImplementedError), then run: chainrule exercise check {path}",
             "ru": "дальше: замените каждый TODO (raise NotImplementedError) и запустите: "
                   "chainrule exercise check {path}"},
    "report_title": {"en": "chainrule exercise check {file} (exercise {number}, {name})",
                     "ru": "chainrule exercise check {file} (задание {number}, {name})"},
    "pass": {"en": "PASS", "ru": "ВЕРНО"},
    "fail": {"en": "FAIL", "ru": "ОШИБКА"},
    "all_passed": {"en": "all {n} checks passed", "ru": "все проверки пройдены ({n})"},
    "some_failed": {"en": "{failed} of {n} checks failed", "ru": "не пройдено проверок: {failed} из {n}"},
    "hint": {"en": "hint", "ru": "подсказка"},
    "input": {"en": "input {input}", "ru": "вход {input}"},
    "gradient_of": {"en": "gradient of {name}", "ru": "градиент по {name}"},
    "element": {"en": "element {index}: expected {expected:.6g}, got {got:.6g} ({count} of {size} elements differ)",
                "ru": "элемент {index}: ожидалось {expected:.6g}, получено {got:.6g} (различаются {count} из {size})"},
    "shapes": {"en": "expected shape {expected}, got {got}", "ru": "ожидалась форма {expected}, получена {got}"},
    "raised": {"en": "raised {error}", "ru": "ошибка {error}"},
    # the run itself
    "timeout": {"en": "the file did not finish within {seconds:g} s (an endless loop?); stopped",
                "ru": "файл не завершился за {seconds:g} с (бесконечный цикл?); остановлен"},
    "memory": {"en": "the file used more than {mb} MiB of memory; stopped",
               "ru": "файл использовал больше {mb} МиБ памяти; остановлен"},
    "output": {"en": "the file printed more than {kb} KiB; stopped",
               "ru": "файл напечатал больше {kb} КиБ; остановлен"},
    "crashed": {"en": "the checks could not run: {error}", "ru": "проверки не запустились: {error}"},
    "import": {"en": "importing the file failed: {error}", "ru": "файл не импортируется: {error}"},
    "missing_file": {"en": "{path}: no such file", "ru": "{path}: нет такого файла"},
    "graded": {"en": "graded {n} submissions into {path}", "ru": "оценено работ: {n}, таблица в {path}"},
    "exited": {"en": "the file ended the process (exit status {code}) before the checks finished",
               "ru": "файл завершил процесс (код {code}) до конца проверок"},
    "not_py": {"en": "{path}: an exercise file must end in .py (it is imported as a Python module)",
               "ru": "{path}: файл задания должен оканчиваться на .py (он импортируется как модуль Python)"},
    "not_numbers": {"en": "got {type}, not numbers", "ru": "получено {type}, а не числа"},
    "gradient_row": {"en": "{name}: expected {expected}, got {got}",
                     "ru": "{name}: ожидалось {expected}, получено {got}"},
    "dtypes": {"en": "dtypes returned: {dtypes}", "ru": "возвращённые типы: {dtypes}"},
    "got": {"en": "got {got}", "ru": "получено {got}"},
    "expected_got": {"en": "expected {expected}, got {got}", "ru": "ожидалось {expected}, получено {got}"},
})

#: The names of the checks that are not a block's (a block's name is its class name, the same in both).
NAMES = Catalog("exercise check names", {
    "lecture_example": {"en": "lecture example {n}", "ru": "пример лекции {n}"},
    "same_value": {"en": "x · x and 3a + 5a", "ru": "x · x и 3a + 5a"},
    "deep_chain": {"en": "chain of {n} values", "ru": "цепочка из {n} значений"},
    "sigmoid_extreme": {"en": "Sigmoid at ±1000", "ru": "Sigmoid при ±1000"},
    "softmax_extreme": {"en": "SoftmaxCrossEntropy at logits of 1000", "ru": "SoftmaxCrossEntropy при логитах 1000"},
    "train_digits": {"en": "train on digits", "ru": "обучение на цифрах"},
})

#: What each kind of check verifies, one line.
KINDS = Catalog("exercise checks", {
    "exists": {"en": "the class is defined", "ru": "класс определён"},
    "forward": {"en": "forward's values against chainrule's block", "ru": "значения forward против блока chainrule"},
    "backward": {"en": "backward's gradient against chainrule's block",
                 "ru": "градиент backward против блока chainrule"},
    "finite_differences": {"en": "backward against finite differences of your forward",
                           "ru": "backward против конечных разностей вашего forward"},
    "upstream": {"en": "backward leaves its upstream argument unchanged",
                 "ru": "backward не изменяет свой аргумент upstream"},
    "cache": {"en": "each instance keeps its own cache", "ru": "у каждого экземпляра свой cache"},
    "paths": {"en": "one value as both inputs: the two gradients sum to its derivative (two paths)",
              "ru": "одно значение на обоих входах: два градиента в сумме дают его производную (два пути)"},
    "dtype": {"en": "float32 in, float32 out", "ru": "float32 на входе — float32 на выходе"},
    "chain": {"en": "the lecture's chain L = Σ(Xθ − Y)² through your blocks",
              "ru": "цепочка из лекции L = Σ(Xθ − Y)² на ваших блоках"},
    "linreg_gradient": {"en": "L and dL/dθ against the formula 2Xᵀ(Xθ − Y)",
                        "ru": "L и dL/dθ против формулы 2Xᵀ(Xθ − Y)"},
    "converges": {"en": "reaches the least-squares optimum", "ru": "достигает оптимума наименьших квадратов"},
    "graph_gradients": {"en": "gradients of the lecture's example", "ru": "градиенты примера из лекции"},
    "order": {"en": "every value once, after its parents, the root last",
              "ru": "каждое значение один раз, после своих родителей, корень последним"},
    "deep": {"en": "a long chain, without recursion", "ru": "длинная цепочка, без рекурсии"},
    "stable": {"en": "finite at extreme inputs", "ru": "конечно при крайних входах"},
    "accuracy": {"en": "test accuracy on the digits", "ru": "точность на тестовой части цифр"},
})

#: The hints, in the lecture's words.
HINTS = Catalog("exercise hints", {
    "todo": {"en": "not written yet: replace raise NotImplementedError with your code",
             "ru": "ещё не написано: замените raise NotImplementedError своим кодом"},
    "define_class": {"en": "define {block} in the file (the template has it)",
                     "ru": "определите {block} в файле (он есть в шаблоне)"},
    "output_shape": {"en": "{block}.forward must return shape {shape}",
                     "ru": "{block}.forward должен вернуть форму {shape}"},
    "return_tuple": {"en": "backward returns a tuple with one gradient per input ({n}); yours returned {got}",
                     "ru": "backward возвращает кортеж, по градиенту на каждый вход ({n}); ваш вернул {got}"},
    "not_numbers": {"en": "the gradient for {input} must be an array of numbers",
                    "ru": "градиент по {input} должен быть массивом чисел"},
    "output_not_numbers": {"en": "{block}.forward must return the result alone (an array), not the cache with it",
                           "ru": "{block}.forward должен вернуть только результат (массив), без cache"},
    "backward_rule": {"en": "no gradient reached the inputs: backward must set root.grad = 1 and call every "
                            "_backward, from the root down in reverse topological order",
                      "ru": "до входов не дошёл ни один градиент: backward должен положить root.grad = 1 и вызвать "
                            "каждый _backward, от корня вниз в обратном топологическом порядке"},
    "paths_sum_same": {"en": "a value that meets itself (x · x) gets both gradients: each rule adds (+=) to grad, "
                             "never assigns (=)",
                       "ru": "значение, встречающее само себя (x · x), получает оба градиента: каждое правило "
                             "прибавляет к grad (+=), а не присваивает (=)"},
    "missing_gradient": {"en": "{block}.backward returned None for {input}, which needs a gradient",
                         "ru": "{block}.backward вернул None для {input}, а по нему нужен градиент"},
    "gradient_shape": {"en": "the gradient for {input} must have {input}'s shape {shape}, got {got_shape}",
                       "ru": "градиент по {input} должен иметь форму {input}, {shape}; получено {got_shape}"},
    "times_upstream": {"en": "backward must multiply the local derivative by the upstream gradient; your "
                             "{block}.backward returned the local derivative alone",
                       "ru": "backward должен умножать локальную производную на upstream-градиент; ваш "
                             "{block}.backward вернул одну локальную производную"},
    "sign": {"en": "the gradient for {input} has the wrong sign", "ru": "у градиента по {input} неверный знак"},
    "square_2x": {"en": "the local derivative of Square is 2x; your backward returned x (or 2 without x), times "
                        "the upstream",
                  "ru": "локальная производная Square равна 2x; ваш backward вернул x (или 2 без x), умноженное "
                        "на upstream"},
    "sub_minus": {"en": "the local derivative of a − b with respect to b is −1: dY = −upstream",
                  "ru": "локальная производная a − b по b равна −1: dY = −upstream"},
    "matmul_transpose": {"en": "dL/dθ = Xᵀ · upstream: multiply by X transposed, and by the upstream",
                         "ru": "dL/dθ = Xᵀ · upstream: умножьте на транспонированную X и на upstream"},
    "relu_local": {"en": "the local derivative of ReLU is 1 where x > 0 and 0 elsewhere, not ReLU(x) itself",
                   "ru": "локальная производная ReLU равна 1 там, где x > 0, и 0 в остальных местах, а не ReLU(x)"},
    "sigmoid_local": {"en": "the local derivative of the sigmoid is y (1 − y), with y = sigmoid(x) from the cache",
                      "ru": "локальная производная сигмоиды равна y (1 − y), где y = sigmoid(x) из cache"},
    "tanh_local": {"en": "the local derivative of tanh is 1 − y², with y = tanh(x) from the cache",
                   "ru": "локальная производная tanh равна 1 − y², где y = tanh(x) из cache"},
    "softmax_mean": {"en": "the loss is the mean over the n objects, so its gradient is divided by n",
                     "ru": "функция потерь — среднее по n объектам, поэтому её градиент делится на n"},
    "softmax_onehot": {"en": "dL/dlogits = (softmax − onehot(labels)) / n: subtract 1 at each object's class",
                       "ru": "dL/dlogits = (softmax − onehot(labels)) / n: вычтите 1 в классе каждого объекта"},
    "softmax_stable": {"en": "subtract each row's maximum from the logits before exp, so exp never overflows",
                       "ru": "вычтите из логитов максимум строки перед exp, чтобы exp не переполнялась"},
    "sigmoid_stable": {"en": "exp(1000) overflows: for x < 0 compute exp(x) / (1 + exp(x))",
                       "ru": "exp(1000) переполняется: для x < 0 считайте exp(x) / (1 + exp(x))"},
    "linear_bias_sum": {"en": "db sums the upstream over the objects: upstream.sum(axis=0)",
                        "ru": "db — сумма upstream по объектам: upstream.sum(axis=0)"},
    "upstream_changed": {"en": "{block}.backward changed its upstream argument in place; compute a new array "
                               "(upstream * ..., not upstream *= ...)",
                         "ru": "{block}.backward изменил свой аргумент upstream на месте; создайте новый массив "
                               "(upstream * ..., а не upstream *= ...)"},
    "finite_differences": {"en": "{block}.backward does not match the derivative of your own forward: one of them "
                                 "is wrong",
                           "ru": "{block}.backward не совпадает с производной вашего forward: один из них неверен"},
    "paths_block": {"en": "with the same array as both inputs of {block}, the gradients of the two paths are "
                          "summed: each of your two gradients must be right on its own",
                    "ru": "когда оба входа {block} — один и тот же массив, градиенты двух путей суммируются: "
                          "каждый из двух ваших градиентов должен быть верен сам по себе"},
    "shared_cache": {"en": "{block} kept the second instance's input: save the cache on self "
                           "(self.cache = ...), not on the class",
                     "ru": "{block} взял вход второго экземпляра: храните cache в self (self.cache = ...), "
                           "а не в классе"},
    "dtype": {"en": "{block} changed float32 to float64: keep the input's dtype (avoid np.float64 constants "
                    "and astype)",
              "ru": "{block} превратил float32 во float64: сохраняйте тип входа (без констант np.float64 и astype)"},
    "converge": {"en": "{what} did not reach the least-squares optimum: check the step θ ← θ − lr · dL/dθ and "
                       "that the gradient is recomputed at every step",
                 "ru": "{what} не дошёл до оптимума: проверьте шаг θ ← θ − lr · dL/dθ и то, что градиент "
                       "пересчитывается на каждом шаге"},
    "paths_sum": {"en": "E feeds two paths (E² and E·C): the gradients arriving along them are summed, so every "
                        "rule adds to grad (+=)",
                  "ru": "E входит в два пути (E² и E·C): пришедшие по ним градиенты суммируются, поэтому каждое "
                        "правило прибавляет к grad (+=)"},
    "mul_rule": {"en": "for out = a·b, a.grad += b · out.grad and b.grad += a · out.grad (upstream × local "
                       "derivative)",
                 "ru": "для out = a·b: a.grad += b · out.grad и b.grad += a · out.grad (upstream × локальная "
                       "производная)"},
    "order": {"en": "list each value once, after all the values it was computed from, the root last "
                    "(depth-first, marking visited values)",
              "ru": "перечислите каждое значение один раз, после всех значений, из которых оно вычислено, корень "
                    "последним (обход в глубину с пометкой посещённых)"},
    "recursion": {"en": "the graph is too deep for recursion: walk it with an explicit stack",
                  "ru": "граф слишком глубокий для рекурсии: обходите его с явным стеком"},
    "accuracy": {"en": "the network learned too little: check each block with the checks above, the update "
                       "W ← W − lr · dW, and that every batch runs forward and backward",
                 "ru": "сеть обучилась слишком мало: проверьте блоки проверками выше, шаг W ← W − lr · dW и то, "
                       "что каждый батч проходит forward и backward"},
})

__all__ = ["MESSAGES", "NAMES", "KINDS", "HINTS"]
