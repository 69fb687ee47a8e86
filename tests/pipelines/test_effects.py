"""The built-in steps declare their effects (the behaviour of steps with effects is in
tests/contract/test_effects.py)."""

from __future__ import annotations

from loopml.pipelines import deploy, deploy_if, load_dataset, register_model, step


def test_the_builtin_steps_declare_their_effects() -> None:
    assert deploy.has_effects and deploy_if.has_effects
    assert not load_dataset.has_effects and not register_model.has_effects

    @step
    def pure(x: int) -> int:
        return x

    assert not pure.has_effects
    assert pure.with_options(effects=True).has_effects
    assert pure.with_options(effects=True).with_options(effects=False).cache
