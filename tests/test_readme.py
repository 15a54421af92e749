"""The README's Python example runs as written (on the smoke testbed instead of the default
one, with its 32 held-out rows and for two epochs: the API is what is checked, not the result)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow  # trains and scores through the README's example: about 50 s; left to `make test`
def test_the_readme_has_one_python_example_and_it_runs(smoke_testbed, capsys):
    blocks = python_blocks(README.read_text())
    assert len(blocks) == 1, f"expected one ```python block in {README.name}, found {len(blocks)}"
    code = blocks[0]
    for old, new in (
        ('models.load("testbed:default")', 'models.load("testbed:smoke")'),
        ("max_epochs=20", "max_epochs=2"),
        ("loaded.heldout(128)", "loaded.heldout(32)"),  # the smoke testbed keeps 32 held-out rows
    ):
        assert old in code, f"the README example no longer contains {old!r}; update this test"
        code = code.replace(old, new)
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"MA \d\.\d{3} \(threshold \d\.\d{3}\), EL10 \d\.\d{3}", out), out
