"""One module per ``chainrule`` subcommand; see :mod:`chainrule.cli`."""
