"""DMN input entries in the standard unary-test form are checked as the engine will run them."""
from __future__ import annotations

import pytest

from engine.spiff.parser import dmn_input_as_expression
from engine.spiff.sandbox import check_source


@pytest.mark.parametrize("entry, expression", [
    (">= 30", "dmninputexpr >= 30"),
    ("< 5", "dmninputexpr < 5"),
    ("0 < ? < 30", "0 < dmninputexpr < 30"),
    ("dmninputexpr >= 10", "dmninputexpr >= 10"),
    ("'征地拆迁'", "'征地拆迁'"),
    ("'a?'", "'a?'"),  # a question mark inside quotes is text, not the input value
    ("True", "True"),
])
def test_entries_become_the_expression_spiff_evaluates(entry, expression):
    assert dmn_input_as_expression(entry) == expression


def test_a_broken_entry_is_reported_not_guessed():
    assert check_source(dmn_input_as_expression(">= = 3"), "eval")
    assert not check_source(dmn_input_as_expression(">= 30"), "eval")
