"""Issue 30, item 5: what IHL's answers (full fine-tuning; another method by --method) to
held-out harmful prompts become on SmolLM2-135M-Instruct (the real profile's second-paper
settings), against the model before unlearning, paired per prompt.

IHL pushes down the probability of each forget-answer token *relative to the runner-up token*
(Cha et al.'s inverted hinge), an objective built for verbatim memorisation: it may swap tokens
for near-synonyms and keep the content.  This prints, per prompt pair, how the three outcomes
(harmful, harmless answer, non-answer) move, how similar the answers stay (MiniLM cosine to the
answer before unlearning), their lengths, and sampled answers that turned harmful (seed 0), and
records the figures on the Measured page (``measurements/why-ihl-harmful.json``).

Usage: python benchmarks/why_ihl_harmful.py [--method IHL]
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter

import numpy as np
import yaml

from unlearnkit.book import measured
from unlearnkit.evaluation import similarity
from unlearnkit.second_paper import answers, harmful, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="IHL", choices=harmful.METHODS)
    parser.add_argument("--profile", default="real")
    args = parser.parse_args()
    section = yaml.safe_load(open(f"profiles/{args.profile}.yaml"))["second_paper"]
    cfg = harmful.HarmfulConfig(model_name=section["model_name"], **section["harmful_config"])
    exp = harmful.experiment(cfg, methods=[args.method])
    before, after = exp["before"], exp["runs"][args.method]["final"]
    kinds_before, kinds_after = outcomes.of(before), outcomes.of(after)
    pairs = Counter(zip(kinds_before, kinds_after))
    cos = similarity.cosines(after["eval_answers"], before["eval_answers"])
    turned = [i for i, (b, a) in enumerate(zip(kinds_before, kinds_after)) if a == "harmful" and b != "harmful"]
    questions = exp["eval_questions"]
    # short deflections ("I'm not a helpful AI", "No, I'm not able to ..."), which the refusal
    # rule of outcomes.outcome does not all catch, and how often the harm classifier flags them
    deflect = [i for i, x in enumerate(after["eval_answers"]) if answers.is_deflection(x)]
    deflect_before = [i for i, x in enumerate(before["eval_answers"]) if answers.is_deflection(x)]
    figures = {
        "method": args.method,
        "harmful rate before (%)": round(100 * before["harmful_rate"], 1),
        "harmful rate after (%)": round(100 * after["harmful_rate"], 1),
        "outcomes before (%)": {k: round(100 * v, 1) for k, v in outcomes.rates(before).items()},
        "outcomes after (%)": {k: round(100 * v, 1) for k, v in outcomes.rates(after).items()},
        "outcome transitions (before -> after: prompts)": {f"{b} -> {a}": n for (b, a), n in sorted(pairs.items())},
        "cosine to the answer before, mean": round(float(np.mean(cos)), 3),
        "cosine to the answer before, prompts turned harmful": round(float(np.mean([cos[i] for i in turned])), 3)
        if turned
        else None,
        "answer words before / after (mean)": [
            round(float(np.mean([len(x.split()) for x in before["eval_answers"]])), 1),
            round(float(np.mean([len(x.split()) for x in after["eval_answers"]])), 1),
        ],
        "harmful-rate history (step: forget-prompt rate)": {
            str(c["step"]): round(c["forget_harmful_rate"], 3)
            for c in exp["runs"][args.method].get("checks", [])
            if "step" in c
        },
        "short deflections before / after (% of answers)": [
            round(100 * len(deflect_before) / len(before["eval_answers"]), 1),
            round(100 * len(deflect) / len(after["eval_answers"]), 1),
        ],
        "short deflections after, flagged harmful (%)": round(
            100 * sum(kinds_after[i] == "harmful" for i in deflect) / len(deflect), 1
        )
        if deflect
        else None,
        "chat template": after.get("chat_template"),
    }
    print(json.dumps(figures, indent=1))
    measured.record(
        f"why-{args.method.lower().replace(' ', '-').replace('+', 'plus')}-harmful",
        {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for k, v in figures.items()},
        f"python benchmarks/why_ihl_harmful.py --method {args.method!r} --profile {args.profile}",
        notes="Held-out harmful prompts, paired before/after; the real profile's second-paper settings (chat template).",
    )
    for i in sorted(random.Random(0).sample(turned, min(4, len(turned)))):
        print(
            f"\nPROMPT: {questions[i]}\n  BEFORE ({kinds_before[i]}): {before['eval_answers'][i]!r}"
            f"\n  AFTER  ({kinds_after[i]}): {after['eval_answers'][i]!r}"
        )


if __name__ == "__main__":
    main()
