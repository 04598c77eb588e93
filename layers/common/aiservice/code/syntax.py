"""Python syntax checks: `ast` for speed (it is what `compile()` runs, the check the codeflash client applies to
every block), with the line and column of the first error."""

from __future__ import annotations

import ast
import gc
import warnings


class CodeSyntaxError(ValueError):
    """Code that does not parse. `line` and `column` are 1-based, as editors count."""

    def __init__(self, message: str, line: int | None, column: int | None, path: str | None = None) -> None:
        where = f"{path or '<code>'}:{line or '?'}:{column or '?'}"
        super().__init__(f"{where}: {message}")
        self.message = message
        self.line = line
        self.column = column
        self.path = path


def parse_python(code: str, path: str | None = None) -> ast.Module:
    """The module's AST, or CodeSyntaxError. NUL bytes and other source the compiler refuses count as syntax
    errors; warnings (invalid escape sequences, ...) are not errors."""
    # A parse makes some 100,000 nodes, none of them garbage, and the cycle collector would scan them again and
    # again as they come: pausing it makes parsing ~20 % faster.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(code, filename=path or "<code>")
    except SyntaxError as error:
        raise CodeSyntaxError(error.msg, error.lineno, error.offset, path) from None
    except ValueError as error:  # "source code string cannot contain null bytes"
        raise CodeSyntaxError(str(error), None, None, path) from None
    finally:
        if collecting:
            gc.enable()


def check_python(code: str, path: str | None = None) -> None:
    parse_python(code, path)
