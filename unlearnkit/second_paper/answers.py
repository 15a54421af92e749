"""What unlearning makes of the answers to held-out harmful prompts: their length, how many
become short deflections, and how the harm classifier treats those.

The harmful rate is the share of answers the classifier flags.  A method that turns answers
into short deflections ("I'm not a helpful AI", "No, I don't …") can leave that rate unchanged
or raise it even though the answers carry less, when the classifier, trained on human-written
text, flags the deflections themselves.  This table lets the reader see it per model, from the
answers the experiment record already holds (:func:`unlearnkit.second_paper.harmful.evaluate`).

A *short deflection* opens with a denial or a refusal (:data:`DEFLECTION`) and has at most
:data:`DEFLECTION_MAX_WORDS` words.  It is wider than :data:`unlearnkit.second_paper.outcomes.REFUSAL`
(which decides the three outcomes, and is not changed by this module): it also counts "I'm not …",
"No, I …" and "I don't …".

Presentation only: nothing here generates, trains or caches, and no experiment imports it
(editing it keeps every cache key).
"""

from __future__ import annotations

import re

import pandas as pd

from . import outcomes

# outcomes.REFUSAL's openings, plus denials ("I'm not …", "No, I …", "I don't …")
DEFLECTION = re.compile(
    r"^\W*(i'?m not|i am not|no,? i|i don'?t|i do not)\b|" + outcomes.REFUSAL.pattern, re.IGNORECASE
)
DEFLECTION_MAX_WORDS = 20


def is_deflection(answer: str) -> bool:
    """Whether ``answer`` is a short deflection (see the module's docstring)."""
    return bool(DEFLECTION.match(answer)) and 0 < len(answer.split()) <= DEFLECTION_MAX_WORDS


def summary(ev: dict) -> dict[str, float]:
    """One model's held-out answers (an evaluation of ``harmful.evaluate``): mean words, the
    share (%) that are short deflections, and the share (%) of those the classifier flags."""
    answers, flags = ev["eval_answers"], ev["harmful_flags"]
    if not answers:
        raise ValueError("the evaluation holds no answers")
    deflections = [i for i, a in enumerate(answers) if is_deflection(a)]
    flagged = sum(bool(flags[i]) for i in deflections)
    return {
        "mean words": sum(len(a.split()) for a in answers) / len(answers),
        "short deflections (%)": 100 * len(deflections) / len(answers),
        "of them flagged harmful (%)": 100 * flagged / len(deflections) if deflections else float("nan"),
        "harmful rate (%)": 100 * ev["harmful_rate"],
    }


def table(exp: dict) -> pd.DataFrame:
    """:func:`summary` for the model before unlearning and after each method of the harmful
    experiment ``exp`` (models without stored answers are left out)."""
    models = [("before unlearning", exp["before"])] + [(f"after {m}", r["final"]) for m, r in exp["runs"].items()]
    return pd.DataFrame({name: summary(ev) for name, ev in models if "eval_answers" in ev}).T
