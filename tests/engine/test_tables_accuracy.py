"""Class weights on a table: ``class_weight="balanced"`` finds the rare class that plain training
misses (the accuracy comparison itself is bench/tabular_accuracy.py, not a test)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlp_engine import MLPClassifier


def imbalanced_table(n: int = 1500, rate: float = 0.04, seed: int = 0) -> tuple[Any, Any]:
    """Payments with a text column and gaps; ``fraud`` is exactly the top ``rate`` of a noisy
    score that rises with online payments and amounts and falls with the account's age."""
    rng = np.random.default_rng(seed)
    channel = np.array(["in-store", "online", "phone"])[rng.choice(3, n, p=[0.6, 0.3, 0.1])]
    amount = rng.normal(0.0, 1.0, n)
    age = rng.normal(0.0, 1.0, n)
    score = 1.5 * (channel == "online") + 1.2 * amount - 0.8 * age + rng.logistic(0.0, 1.0, n)
    y = np.where(score >= np.quantile(score, 1 - rate), "fraud", "ok")
    amount[rng.random(n) < 0.05] = np.nan
    text = channel.astype(object)
    text[rng.random(n) < 0.05] = None
    return {"amount": amount, "account_age": age, "channel": text}, y


def test_balanced_class_weight_lifts_balanced_accuracy_on_an_imbalanced_table() -> None:
    X, y = imbalanced_table()
    assert np.mean(y == "fraud") == 0.04
    settings: dict[str, Any] = {
        "hidden_layers": (8,),
        "epochs": 20,
        "test_fraction": 0.3,
        "seed": 0,
    }
    plain = MLPClassifier(**settings).fit(X, y).evaluation_
    balanced = MLPClassifier(class_weight="balanced", **settings).fit(X, y).evaluation_
    assert plain is not None and balanced is not None
    before, after = plain["test"], balanced["test"]
    assert before["per_class"]["fraud"]["support"] == after["per_class"]["fraud"]["support"] == 18
    # Unweighted, the model nearly always says "ok"; balanced, it finds most of the fraud.
    assert after["balanced_accuracy"] > before["balanced_accuracy"] + 0.1, (before, after)
    assert after["per_class"]["fraud"]["recall"] > before["per_class"]["fraud"]["recall"] + 0.3
    assert after["per_class"]["fraud"]["recall"] >= 0.5
