"""``chainrule notebooks DIR``: copy the lecture's notebooks out of the installed package, to open in Jupyter.

One notebook per lecture point: the graph and the chain rule (E, F, G, H by hand; the square on two
paths), linear regression by hand and with the graph, SGD's gradient as a random variable, and the
MLP. An existing file is never overwritten.
"""

from __future__ import annotations

import argparse
from importlib import resources

from ..errors import ChainruleError
from ..lang import LANGUAGES, resolve


def register(sub) -> None:
    p = sub.add_parser(
        "notebooks",
        help="copy the lecture's notebooks (graph, linear regression, SGD noise, MLP) into a folder",
        description="Copy the lecture's Jupyter notebooks into DIR (made if missing); a file already there is "
        "kept. Run them with: pip install 'chainrule[notebooks]' jupyterlab; jupyter lab DIR",
    )
    p.add_argument("folder", nargs="?", default="chainrule-notebooks",
                   help="where to put them (default: ./chainrule-notebooks)")
    p.add_argument("--lang", choices=LANGUAGES, default=None, help="language of the messages (default: the locale)")
    p.set_defaults(func=run)


def notebook_files() -> list:
    """The notebooks in the installed package, in the lecture's order."""
    folder = resources.files("chainrule") / "notebooks"
    return sorted((f for f in folder.iterdir() if f.name.endswith(".ipynb")), key=lambda f: f.name)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..exercise.messages import MESSAGES

    lang = resolve(args.lang)
    root = Path(args.folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChainruleError(f"cannot make the folder {args.folder}: {exc.strerror or exc}") from None
    if not root.is_dir():
        raise ChainruleError(f"{args.folder} is not a folder")
    for source in notebook_files():
        target = root / source.name
        try:
            with open(target, "xb") as f:  # "x": never over an existing file
                f.write(source.read_bytes())
            print(MESSAGES.text("wrote", lang, path=target))
        except FileExistsError:
            print(MESSAGES.text("kept", lang, path=target))
        except OSError as exc:
            raise ChainruleError(f"cannot write {target}: {exc.strerror or exc}") from None
    return 0
