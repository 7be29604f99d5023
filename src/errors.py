"""The one exception type for problems a user can fix (bad input, missing file, wrong flag).

Scripts turn an `InputError` into a one-paragraph message and exit code 2 (`src.cli.run_cli`);
any other exception is a bug and keeps its traceback.
"""


class InputError(Exception):
    """A problem with the user's input: the message names the file (line/key) and the fix."""
