"""Simple properties of each character of a text, for finding neurons that track them.

Each feature is the state *after* reading a character, matching the neuron's
state after reading it: an opening quote is already inside the quotes, a
closing one is already outside. Strings and comments follow Python's rules
(``#`` to the end of the line; ``'``, ``"`` and their tripled forms, with
backslash escapes), which also reads most shell, Ruby and YAML.
"""

from __future__ import annotations

import numpy as np

OPENING, CLOSING = "([{", ")]}"
# what each feature means, in the words the finder prints
FEATURES = {
    "in_quotes": "inside double quotes (prose)",
    "bracket_depth": "nesting depth of ( [ {",
    "in_brackets": "inside ( [ or {",
    "line_position": "characters since the line began",
    "in_comment": "inside a # comment (code)",
    "in_string": "inside a string literal (code)",
    "word_start": "first character of a word",
}


def text_features(text: str) -> dict[str, np.ndarray]:
    """``{feature: (len(text),) float array}`` for every name in ``FEATURES``."""
    n = len(text)
    quotes, depth, position, start = (np.zeros(n) for _ in range(4))
    inside, level, column, previous_word = False, 0, 0, False
    for t, char in enumerate(text):
        if char == '"':
            inside = not inside
        if char in OPENING:
            level += 1
        elif char in CLOSING:
            level = max(level - 1, 0)
        column = 0 if char == "\n" else column + 1
        word = char.isalnum() or char == "_"
        quotes[t], depth[t], position[t], start[t] = inside, level, column, word and not previous_word
        previous_word = word
    comment, string = code_regions(text)
    return {"in_quotes": quotes, "bracket_depth": depth, "in_brackets": (depth > 0).astype(float),
            "line_position": position, "in_comment": comment, "in_string": string, "word_start": start}


def code_regions(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Whether each character is inside a comment, and whether inside a string, read as Python."""
    n = len(text)
    comment, string = np.zeros(n), np.zeros(n)
    t, delimiter = 0, ""  # delimiter: the open string's quote (one or three characters), "" outside
    while t < n:
        char = text[t]
        if delimiter:
            if char == "\\":
                string[t:t + 2] = 1
                t += 2
                continue
            if text.startswith(delimiter, t):
                string[t:t + len(delimiter) - 1] = 1  # the closing quote itself ends the string
                t += len(delimiter)
                delimiter = ""
                continue
            if char == "\n" and len(delimiter) == 1:
                delimiter = ""  # an unclosed one-line string ends with its line
                t += 1
                continue
            string[t] = 1
            t += 1
        elif char == "#":
            end = text.find("\n", t)
            end = n if end < 0 else end
            comment[t:end] = 1
            t = end
        elif char in "'\"":
            delimiter = char * 3 if text.startswith(char * 3, t) else char
            string[t:t + len(delimiter)] = 1
            t += len(delimiter)
        else:
            t += 1
    return comment, string
